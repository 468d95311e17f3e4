"""The gateway: validates, authenticates, debits, writes the job row, enqueues. Nothing slow."""

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_gateway.envelope import error_response
from api_gateway.routes import files, generate, health, status, upload, webhooks
from api_gateway.schemas import ErrorEnvelope
from shared.errors import ApiError, InvalidParameters, NotFound, ServerError, invalid

log = logging.getLogger(__name__)

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "1000 invalid parameters"},
    401: {"model": ErrorEnvelope, "description": "1002 authentication failed"},
    402: {"model": ErrorEnvelope, "description": "1001 insufficient credits"},
    404: {"model": ErrorEnvelope, "description": "1000 no such video, delivery, file or endpoint"},
    429: {"model": ErrorEnvelope, "description": "1003 rate limit exceeded"},
    500: {"model": ErrorEnvelope, "description": "5000 server error"},
    503: {"model": ErrorEnvelope, "description": "5000 a dependency is down"},
}


class RateLimitHeaders:
    """Copies the rate-limit headers a dependency computed onto whatever response goes out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = scope.get("state", {}).get("rate_limit_headers")
                if extra:
                    present = {k.lower() for k, _ in message.get("headers", [])}
                    message.setdefault("headers", [])
                    message["headers"] = list(message["headers"]) + [
                        (k.lower().encode(), v.encode())
                        for k, v in extra.items()
                        if k.lower().encode() not in present
                    ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Every JSON body this API takes is a few KiB (prompt <= 2,000 characters, URLs <= 2,048); the
# upload route streams its file to disk under its own cap (api_gateway/uploads.py).
JSON_BODY_MAX_BYTES = 64 * 1024
STREAMED_PATHS = frozenset({"/api/upload-video-image"})


class BodyLimit:
    """Refuses a request body larger than JSON_BODY_MAX_BYTES with the 1000 error and HTTP 413,
    before reading it when Content-Length says so, else the moment the count passes the cap."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in STREAMED_PATHS:
            await self.app(scope, receive, send)
            return
        reason = f"larger than {JSON_BODY_MAX_BYTES} bytes"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > JSON_BODY_MAX_BYTES:
            error = invalid("body", reason)
            error.http_status = 413
            await error_response(error)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > JSON_BODY_MAX_BYTES:  # FastAPI passes HTTPException through as is
                raise StarletteHTTPException(413, f"Invalid parameter 'body': {reason}")
            return message

        await self.app(scope, counted, send)


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


def create_app() -> FastAPI:
    app = FastAPI(
        title="Veo 3.1 video generation API",
        version="1.0",
        description="Generate videos from text or images. Every answer is `{code, msg, data}`.",
        responses=ERROR_RESPONSES,
    )
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    for module in (generate, status, upload, health, files, webhooks):
        app.include_router(module.router, prefix="/api")
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(BodyLimit)
    app.openapi = _envelope_only_openapi(app)  # type: ignore[method-assign]
    return app


def _envelope_only_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The schema without FastAPI's automatic 422: validation errors are the 400 envelope here."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema  # type: ignore[return-value]

    return openapi


app = create_app()
