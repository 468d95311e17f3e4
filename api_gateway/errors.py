"""The seed's `{code, msg, data}` envelope, and the one place that renders it: successes, our
errors (shared.errors) and the framework's own (validation, unknown paths and methods).

Code that runs outside the exception handlers (the ASGI classes of api_gateway/asgi.py) catches
`ApiError` and calls `error_response` itself, so every answer still comes from here.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.constants import ENVELOPE_OK_MSG
from shared.errors import (
    ApiError,
    InvalidParameters,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServerError,
    invalid,
)

log = logging.getLogger(__name__)


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


def error_response(exc: ApiError, *, status_code: int | None = None) -> JSONResponse:
    """The error's envelope, with its class's HTTP status unless `status_code` overrides it
    (only the framework's HTTP errors do: their status passes through as it is)."""
    return JSONResponse(
        {"code": exc.code, "msg": exc.msg, "data": exc.data},
        status_code=status_code or exc.http_status,
        headers=exc.headers or None,
    )


def payload_too_large(field: str, reason: str, **data: Any) -> PayloadTooLarge:
    """`invalid(field, reason)` answered with HTTP 413; `data` is added to its data."""
    error = invalid(field, reason)
    return PayloadTooLarge(error.msg, {**error.data, **data})


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": ("body",), "msg": "invalid request"}
    loc = [
        str(part)
        for part in first.get("loc", ())
        if part not in ("body", "query", "path", "header")
    ]
    field = ".".join(loc) or "body"
    if first.get("type") == "json_invalid":
        return error_response(invalid("body", "malformed JSON"))
    reason = str(first.get("msg", "invalid value"))
    if first.get("type") == "extra_forbidden":
        reason = "unknown field"
    return error_response(invalid(field, reason))


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(NotFound("Not found: no such endpoint"))
    if exc.status_code == 405:
        return error_response(MethodNotAllowed())
    # Any other status (a body over BodyLimit's cap: 413; an unreadable body: 400) passes through.
    error = InvalidParameters(str(exc.detail)) if exc.status_code < 500 else ServerError()
    return error_response(error, status_code=exc.status_code)


def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc)


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(ServerError())


def install(app: FastAPI) -> None:
    """Render every error, the framework's too, as the envelope."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
