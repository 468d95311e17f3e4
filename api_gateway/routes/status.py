"""GET /api/video-status/{uuid}."""

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api_gateway.envelope import ok
from api_gateway.ratelimit import LimitedCaller
from api_gateway.schemas import Envelope, Text, VideoStatusData
from shared.db import read_session
from shared.errors import NotFound
from shared.job_view import status_data
from shared.models import Job

router = APIRouter(tags=["videos"])


def _load(job_id: str, account_id: str) -> dict[str, Any]:
    with read_session() as session:
        job = session.get(Job, job_id) if len(job_id) <= 36 else None
        # Another account's job answers exactly like an unknown one: ids cannot be probed.
        if job is None or job.account_id != account_id:
            raise NotFound("Video not found")
        return status_data(session, job)


@router.get("/video-status/{uuid}", response_model=Envelope[VideoStatusData])
async def video_status(uuid: Text, caller: LimitedCaller) -> JSONResponse:
    """Where a job is: status, progress, estimated seconds left, and the video URL when done."""
    return ok(await run_in_threadpool(_load, uuid, caller.account_id))
