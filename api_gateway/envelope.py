"""The seed's `{code, msg, data}` envelope, for successes and for every error."""

from typing import Any

from fastapi.responses import JSONResponse

from shared.constants import ENVELOPE_OK_MSG
from shared.errors import ApiError


def ok(
    data: Any,
    msg: str = ENVELOPE_OK_MSG,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"code": 0, "msg": msg, "data": data}, status_code=status_code, headers=headers
    )


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(
        {"code": exc.code, "msg": exc.msg, "data": exc.data},
        status_code=exc.http_status,
        headers=exc.headers or None,
    )
