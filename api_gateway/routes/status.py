"""GET /api/video-status/{uuid}."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import bindparam, select

from api_gateway.db_threads import in_db_thread
from api_gateway.envelope import ok
from api_gateway.ratelimit import LimitedCaller
from api_gateway.schemas import Envelope, Text, VideoStatusData
from shared.db import read_connection
from shared.errors import NotFound
from shared.job_view import STATUS_FIELDS, status_data
from shared.models import Job

router = APIRouter(tags=["videos"])
_jobs = Job.__table__  # type: ignore[attr-defined]
# Built once: building a statement per request cost as much as running it.
_SELECT_OWN_JOB = select(*(_jobs.c[name] for name in STATUS_FIELDS)).where(
    _jobs.c.id == bindparam("job"), _jobs.c.account_id == bindparam("account")
)


def _load(job_id: str, account_id: str) -> dict[str, Any]:
    """One Core query (no ORM session): this is the endpoint clients poll."""
    if len(job_id) > 36:
        raise NotFound("Video not found")
    with read_connection() as connection:
        # Another account's job answers exactly like an unknown one: ids cannot be probed.
        job = connection.execute(_SELECT_OWN_JOB, {"job": job_id, "account": account_id}).first()
        if job is None:
            raise NotFound("Video not found")
        return status_data(connection, job)


@router.get("/video-status/{uuid}", response_model=Envelope[VideoStatusData])
async def video_status(uuid: Text, caller: LimitedCaller) -> JSONResponse:
    """Where a job is: status, progress, estimated seconds left, and the video URL when done."""
    return ok(await in_db_thread(_load, uuid, caller.account_id))
