"""The exception handlers that render every error, the framework's too, as the seed's envelope."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api_gateway.envelope import error_response
from shared.errors import ApiError, InvalidParameters, NotFound, ServerError, invalid

log = logging.getLogger(__name__)


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
        error: ApiError = InvalidParameters("Method not allowed for this endpoint")
        error.http_status = 405
        return error_response(error)
    error = InvalidParameters(str(exc.detail)) if exc.status_code < 500 else ServerError()
    error.http_status = exc.status_code
    return error_response(error)


def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc)


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(ServerError())


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
