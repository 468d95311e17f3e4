"""What `GET /api/video-status/{uuid}` returns (and what webhooks carry): one function."""

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, func, select
from sqlmodel import Session, col

from shared.estimates import pending_estimate, processing_estimate, typical_duration_s
from shared.models import Job
from shared.settings import get_settings
from shared.states import PUBLIC_STATUS, JobStatus
from shared.storage import get_storage
from shared.timeutil import iso_z, utcnow


class StatusRow(NamedTuple):
    """What the view reads of a job, and its owner. The gateway selects only these columns (a
    Core row instead of a Job), and the Redis mirror (shared.status_cache) stores them by
    position and hands an entry back as one of these."""

    account_id: str
    id: str
    status: str
    generation_type: str
    aspect_ratio: str
    created_at: datetime
    updated_at: datetime
    processing_at: datetime | None
    completed_at: datetime | None
    video_key: str | None
    error_code: str | None
    error_message: str | None


STATUS_FIELDS = StatusRow._fields
JobView = Job | Row[Any] | StatusRow


def queue_position(session: Session | Connection, job: JobView) -> int:
    """Jobs waiting ahead of this one (created earlier and still not sent upstream)."""
    waiting = [JobStatus.PENDING.value, JobStatus.SUBMITTING.value]
    return int(
        session.execute(
            select(func.count())
            .select_from(Job)
            .where(col(Job.status).in_(waiting), col(Job.created_at) < job.created_at)
        ).scalar_one()
    )


def status_data(session: Session | Connection | None, job: JobView) -> dict[str, Any]:
    """The status answer; `session` may be None for jobs past pending (no query needed)."""
    status = JobStatus(job.status)
    data: dict[str, Any] = {
        "uuid": job.id,
        "status": PUBLIC_STATUS[status],
        "videoUrl": None,
        "progress": 0,
        "estimatedTime": 0,
        "generationType": job.generation_type,
        "aspectRatio": job.aspect_ratio,
        "createdAt": iso_z(job.created_at),
    }
    if status is JobStatus.COMPLETED and job.video_key:
        data.update(videoUrl=get_storage().url(job.video_key), progress=100)
        data["completedAt"] = iso_z(job.completed_at or job.updated_at)
    elif status is JobStatus.FAILED:
        data.update(error=job.error_message, errorCode=job.error_code)
    elif status is JobStatus.PROCESSING:
        started = job.processing_at or job.updated_at
        estimate = processing_estimate((utcnow() - started).total_seconds(), typical_duration_s())
        data.update(progress=estimate.progress, estimatedTime=estimate.remaining_s)
    else:
        if session is None:
            raise ValueError("a pending job's queue position needs the database")
        position = queue_position(session, job)
        estimate = pending_estimate(
            position, typical_duration_s(), get_settings().upstream_max_in_flight
        )
        data.update(
            progress=estimate.progress, estimatedTime=estimate.remaining_s, queuePosition=position
        )
    return data
