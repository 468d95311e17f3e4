"""GET /api/video-status/{uuid}. GET requests are served before the router, by StatusFastPath
(api_gateway/asgi.py), and HEAD requests by this route, through the same function."""

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from api_gateway.schemas import Envelope, VideoStatusData
from api_gateway.video_status import answer
from api_gateway.waiting import WAIT_DOC

router = APIRouter(tags=["videos"])


@router.get("/video-status/{uuid}", response_model=Envelope[VideoStatusData])
async def get_video_status(
    uuid: str,
    request: Request,
    prefer: Annotated[str | None, Header(description=WAIT_DOC)] = None,  # noqa: ARG001 - answer() reads it
) -> JSONResponse:
    """Where a job is: status, progress, estimated seconds left, and the video URL when done;
    with `Prefer: wait=N`, once it is terminal or N seconds passed."""
    return await answer(request, uuid)


router.add_api_route(
    "/video-status/{uuid}", get_video_status, methods=["HEAD"], include_in_schema=False
)
