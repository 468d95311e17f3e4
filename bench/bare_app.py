"""The gateway baseline: one bare JSON endpoint on FastAPI, no auth, no database, no Redis.

Served with exactly the gateway's uvicorn command line (bench.stack.uvicorn_argv), so the
ratio `gateway endpoint / bare` is what our own code costs on top of FastAPI + uvicorn.
"""

from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()


@app.get("/bare")
async def bare() -> JSONResponse:
    return JSONResponse({"code": 0, "msg": "Success", "data": {"status": "ok"}})
