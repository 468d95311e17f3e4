"""The gateway's ASGI classes, outermost first as api_gateway.app installs them: a cap on JSON
bodies, rate-limit headers on every answer, and the two fast paths that serve the endpoints
clients call most (submit and status) before FastAPI's router and dependency machinery, which
took a third of their CPU (README.md, "Performance"). A fast path calls the same function as
its route and renders an error as the exception handlers do (api_gateway/errors.py).
"""

from fastapi import Request
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_gateway.deps import admit, submit_pipeline
from api_gateway.errors import error_response, payload_too_large
from api_gateway.schemas import GenerateVideoRequest
from api_gateway.submission import create_video
from api_gateway.video_status import answer
from shared.errors import ApiError

# Every JSON body this API takes is a few KiB (prompt <= 2,000 characters, URLs <= 2,048); the
# upload route streams its file to disk under its own cap (api_gateway/uploads.py).
JSON_BODY_MAX_BYTES = 64 * 1024
STREAMED_PATHS = frozenset({"/api/upload-video-image", "/dashboard/upload"})
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
            await error_response(payload_too_large("body", reason))(scope, receive, send)
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
            await error_response(payload_too_large("body", reason))(scope, receive, send)


class RateLimitHeaders:
    """Copies the rate-limit headers a dependency computed (api_gateway.deps.admit) onto
    whatever response goes out."""

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


SUBMIT_PATH = "/api/generate-video"


class SubmitFastPath:
    """Serves `POST /api/generate-video` with a valid JSON body past the router and the dependency
    machinery, as StatusFastPath does for status. Only the usual case takes this door: a body
    that does not validate, or any other content type, goes on to the route with its body
    replayed, so every refusal is rendered by the one place that renders it. Nothing is counted
    before that choice, so no request counts twice against the rate limit. A request that sends
    `Prefer` (to wait for its job: api_gateway/waiting.py) takes the route as well."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"].removeprefix(scope.get("root_path", "")) != SUBMIT_PATH
            or any(name == b"prefer" for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:  # the client went away: nothing to answer
            return
        replay = _replaying(body, receive)
        parsed = _parse(scope, body)
        if parsed is None:
            await self.app(scope, replay, send)
            return
        request = Request(scope, replay)
        try:
            caller = (await admit(request)).caller
            response = await create_video(
                submit_pipeline(request.app),
                parsed,
                caller.account_id,
                request.headers.get("idempotency-key"),
            )
        except ApiError as error:
            response = error_response(error)
        await response(scope, replay, send)


def _parse(scope: Scope, body: bytes) -> GenerateVideoRequest | None:
    """The validated body, if this is a JSON request whose body validates; else None."""
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    if content_type.split(b";")[0].strip().lower() != b"application/json":
        return None
    try:
        return GenerateVideoRequest.model_validate_json(body)
    except ValidationError:
        return None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body (BodyLimit, outside, caps it); None if the client went away."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields the body once more, then whatever the connection says next."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


STATUS_PATH_PREFIX = "/api/video-status/"


class StatusFastPath:
    """Serves `GET /api/video-status/{uuid}`, the endpoint clients poll, past the router and the
    dependency machinery. Same function, same answers as the route: an error becomes its
    envelope as the exception handlers render it. Installed innermost, so the other middleware
    still wrap it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"].removeprefix(scope.get("root_path", ""))
            uuid = path[len(STATUS_PATH_PREFIX) :]
            if path.startswith(STATUS_PATH_PREFIX) and uuid and "/" not in uuid:
                try:
                    response = await answer(Request(scope, receive), uuid)
                except ApiError as error:
                    response = error_response(error)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
