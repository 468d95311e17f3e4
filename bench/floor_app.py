"""The gateway's floor: the product's own app (middlewares, handlers, GC settings) with one extra
route that authenticates and counts the rate limit, as every API route does, and then does
nothing. Served beside the gateway with the same command line, so `status - floor` and
`submit - floor` are what those routes' own work costs, and `floor - bare` is the price of the
app's frame plus the one Redis round trip no authenticated request can skip.
"""

from fastapi import Request
from fastapi.responses import JSONResponse

from api_gateway.app import app
from api_gateway.deps import admit


@app.get("/floor")
async def floor(request: Request) -> JSONResponse:
    await admit(request)
    return JSONResponse({"code": 0, "msg": "Success", "data": {"status": "ok"}})
