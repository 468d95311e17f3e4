"""POST /api/generate-video. A valid JSON body is served before the router, by SubmitFastPath
(api_gateway/asgi.py); this route answers everything else, through the same create_video,
including every request that sends `Prefer` (api_gateway/waiting.py)."""

import json
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from api_gateway.deps import LimitedCaller, SubmitPipelineDep
from api_gateway.errors import ok
from api_gateway.routing import AuthenticatedRoute
from api_gateway.schemas import Envelope, GenerateVideoData, GenerateVideoRequest
from api_gateway.submission import create_video
from api_gateway.video_status import current
from api_gateway.waiting import WAIT_DOC, applied, requested_wait, wait_for_terminal

router = APIRouter(tags=["videos"], route_class=AuthenticatedRoute)


@router.post("/generate-video", response_model=Envelope[GenerateVideoData])
async def generate_video(  # noqa: PLR0917 - FastAPI's parameters, each one of the request
    body: GenerateVideoRequest,
    caller: LimitedCaller,
    pipeline: SubmitPipelineDep,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    prefer: Annotated[
        str | None,
        Header(description=WAIT_DOC),
    ] = None,
) -> JSONResponse:
    """Create a video job: debits credits, answers at once (or, with `Prefer: wait=N`, when the
    job is terminal or N seconds passed); poll status, stream its events or wait for the
    webhook."""
    response = await create_video(pipeline, body, caller.account_id, idempotency_key)
    wait_s = requested_wait(request.scope["headers"]) if prefer is not None else None
    if wait_s is None:
        return response
    return await _waited(response, caller.account_id, wait_s)


async def _waited(created: JSONResponse, account_id: str, wait_s: int) -> JSONResponse:
    """The create answer with the status answer's fields as they are once the wait is over
    (the create answer is rendered by create_video alone, so it is read back here)."""
    data = json.loads(bytes(created.body))["data"]
    uuid = data["uuid"]
    read = partial(current, uuid, account_id)
    status = await (wait_for_terminal(uuid, wait_s, read) if wait_s > 0 else read())
    headers = {k: v for k, v in created.headers.items() if k.lower() == "idempotent-replayed"}
    return ok({**data, **status}, headers={**headers, **applied(wait_s)})
