"""POST /api/generate-video."""

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_gateway.envelope import error_response, ok
from api_gateway.ratelimit import LimitedCaller, admit
from api_gateway.schemas import Envelope, GenerateVideoData, GenerateVideoRequest
from api_gateway.submission import submit
from shared.errors import ApiError
from shared.states import PUBLIC_STATUS, JobStatus
from shared.timeutil import iso_z

router = APIRouter(tags=["videos"])


@router.post("/generate-video", response_model=Envelope[GenerateVideoData])
async def generate_video(
    request: Request,
    body: GenerateVideoRequest,
    caller: LimitedCaller,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Create a video job: debits credits, answers at once; poll status or wait for the webhook."""
    return await create(request, body, caller.account_id, idempotency_key)


async def create(
    request: Request, body: GenerateVideoRequest, account_id: str, idempotency_key: str | None
) -> JSONResponse:
    """The endpoint's work once the caller is admitted, behind both of its doors (the route and
    SubmitFastPath)."""
    state = request.app.state
    result = await submit(body, account_id, idempotency_key, state.paid_inserts)
    job = result.job
    if not result.replayed:  # committed: its message may leave (api_gateway/publisher.py)
        state.submit_publisher.add(job["id"])
    data = GenerateVideoData(
        uuid=job["id"],
        status=PUBLIC_STATUS[JobStatus(job["status"])],  # type: ignore[arg-type]
        generationType=job["generation_type"],
        prompt=job["prompt"],
        aspectRatio=job["aspect_ratio"],
        createdAt=iso_z(job["created_at"]),
    ).model_dump()
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return ok(data, headers=headers)


PATH = "/api/generate-video"


class SubmitFastPath:
    """Serves `POST /api/generate-video` with a valid JSON body past the router and the dependency
    machinery, as StatusFastPath does for status (bench/RESULTS.md). Only the usual case
    takes this door: a body that does not validate, or any other content type, goes on to the
    route with its body replayed, so every refusal is rendered by the one place that renders it.
    Nothing is counted before that choice, so no request counts twice against the rate limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"].removeprefix(scope.get("root_path", "")) != PATH
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
            response = await create(
                request, parsed, caller.account_id, request.headers.get("idempotency-key")
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
