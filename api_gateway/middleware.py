"""ASGI middleware of the gateway: rate-limit headers on every answer, and a cap on JSON bodies."""

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_gateway.envelope import error_response
from shared.errors import invalid


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
# No route of these methods reads a body, so none is counted (uvicorn stops reading from a
# client whose unread body fills its buffer).
UNREAD_BODY_METHODS = frozenset({"GET", "HEAD"})


class BodyLimit:
    """Refuses a request body larger than JSON_BODY_MAX_BYTES with the 1000 error and HTTP 413,
    before reading it when Content-Length says so, else the moment the count passes the cap."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in UNREAD_BODY_METHODS
            or scope["path"] in STREAMED_PATHS
        ):
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

        try:
            await self.app(scope, counted, send)
        except StarletteHTTPException as exc:
            if exc.status_code != 413 or received <= JSON_BODY_MAX_BYTES:
                raise
            # Raised past the router's handlers: a fast path reads its body itself.
            error = invalid("body", reason)
            error.http_status = 413
            await error_response(error)(scope, receive, send)
