"""What `GET /api/video-status/{uuid}` returns (and what webhooks carry): one function."""

from typing import TYPE_CHECKING, Any, Union

from sqlalchemy import Connection, Row, func, select
from sqlmodel import Session, col

from shared.estimates import pending_estimate, processing_estimate, typical_duration_s
from shared.models import Job
from shared.settings import get_settings
from shared.states import PUBLIC_STATUS, JobStatus
from shared.storage import get_storage
from shared.timeutil import iso_z, utcnow

# What the view reads of a job, and its owner; the gateway selects only these (a Core row
# instead of a Job), and the Redis mirror stores them (shared.status_cache).
STATUS_FIELDS = (
    "account_id", "id", "status", "generation_type", "aspect_ratio", "created_at", "updated_at",
    "processing_at", "completed_at", "video_key", "error_code", "error_message",
)  # fmt: skip
if TYPE_CHECKING:
    from shared.status_cache import CachedJob
JobView = Union[Job, Row[Any], "CachedJob"]


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
