"""POST /api/generate-video. A valid JSON body is served before the router, by SubmitFastPath
(api_gateway/asgi.py); this route answers everything else, through the same create_video."""

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from api_gateway.deps import LimitedCaller, SubmitPipelineDep
from api_gateway.routing import AuthenticatedRoute
from api_gateway.schemas import Envelope, GenerateVideoData, GenerateVideoRequest
from api_gateway.submission import create_video

router = APIRouter(tags=["videos"], route_class=AuthenticatedRoute)


@router.post("/generate-video", response_model=Envelope[GenerateVideoData])
async def generate_video(
    body: GenerateVideoRequest,
    caller: LimitedCaller,
    pipeline: SubmitPipelineDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Create a video job: debits credits, answers at once; poll status or wait for the webhook."""
    return await create_video(pipeline, body, caller.account_id, idempotency_key)
