"""GET /api/video-status/{uuid}. GET requests are served before the router, by StatusFastPath
(api_gateway/asgi.py), and HEAD requests by this route, through the same function."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api_gateway.schemas import Envelope, VideoStatusData
from api_gateway.video_status import answer

router = APIRouter(tags=["videos"])


@router.get("/video-status/{uuid}", response_model=Envelope[VideoStatusData])
async def get_video_status(uuid: str, request: Request) -> JSONResponse:
    """Where a job is: status, progress, estimated seconds left, and the video URL when done."""
    return await answer(request, uuid)


router.add_api_route(
    "/video-status/{uuid}", get_video_status, methods=["HEAD"], include_in_schema=False
)
