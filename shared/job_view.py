"""What `GET /api/video-status/{uuid}` returns (and what webhooks carry): one function."""

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row
from sqlmodel import Session

from shared.dispatch_order import queue_position
from shared.estimates import pending_estimate, processing_estimate, typical_duration_s
from shared.job_options import echoed
from shared.models import Job, video_files
from shared.settings import get_settings
from shared.states import PUBLIC_STATUS, TERMINAL, JobStatus
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
    prompt: str
    # Generation options (shared/job_options.py): new fields go last, as the mirror is by position.
    credits_charged: int
    options: dict[str, Any] | None
    aspect_ratio_used: str | None
    video_keys: list[str] | None


STATUS_FIELDS = StatusRow._fields
JobView = Job | Row[Any] | StatusRow


def status_data(
    session: Session | Connection | None, job: JobView, *, queue_position: int | None = None
) -> dict[str, Any]:
    """The status answer; `session` may be None for jobs past pending (no query needed), and
    a pending job's `queue_position`, when the caller counted it already (a list of jobs)."""
    status = JobStatus(job.status)
    expires = expires_at(job)
    data: dict[str, Any] = {
        "uuid": job.id,
        "status": PUBLIC_STATUS[status],
        "videoUrl": None,
        "progress": 0,
        "estimatedTime": 0,
        "queuePosition": None,
        "generationType": job.generation_type,
        "prompt": job.prompt,
        "aspectRatio": job.aspect_ratio_used or job.aspect_ratio,
        "createdAt": iso_z(job.created_at),
        "startedAt": iso_z(job.processing_at) if job.processing_at else None,
        "completedAt": iso_z(finished_at(job)) if status in TERMINAL else None,
        "expiresAt": iso_z(expires) if expires else None,
        "credits": job.credits_charged,
        **echoed(job.options),
    }
    if status is JobStatus.COMPLETED and job.video_key:
        storage = get_storage()
        urls = [storage.url(key) for key in video_files(job.video_key, job.video_keys)]
        data.update(videoUrl=urls[0], videoUrls=urls, progress=100)
    elif status is JobStatus.FAILED:
        data.update(error=job.error_message, errorCode=job.error_code)
    elif status is JobStatus.PROCESSING:
        started = job.processing_at or job.updated_at
        estimate = processing_estimate((utcnow() - started).total_seconds(), typical_duration_s())
        data.update(progress=estimate.progress, estimatedTime=estimate.remaining_s)
    elif status is not JobStatus.CANCELLED:
        data.update(_waiting(session, job, status, queue_position))
    return data


def finished_at(job: JobView) -> datetime:
    """When a terminal job got there: its move stamped `updated_at` too, and nothing moves it
    since (deletion leaves `updated_at` alone)."""
    return job.completed_at or job.updated_at


def expires_at(job: JobView) -> datetime | None:
    """When the retention sweep (worker/tasks/retention.py) deletes a completed job's video;
    None for other jobs, and when videos are kept forever. The one place the status answer's
    `expiresAt` comes from."""
    days = get_settings().video_retention_days
    if JobStatus(job.status) is not JobStatus.COMPLETED or days <= 0:
        return None
    return finished_at(job) + timedelta(days=days)


def _waiting(
    session: Session | Connection | None,
    job: JobView,
    status: JobStatus,
    counted: int | None,
) -> dict[str, Any]:
    """A job not yet upstream: the waiting jobs the dispatcher admits before it (none once it
    is admitted), and the time that takes at the quota's rate, plus its own generation."""
    position = 0
    if status is JobStatus.PENDING and counted is not None:
        position = counted
    elif status is JobStatus.PENDING:
        if session is None:
            raise ValueError("a pending job's queue position needs the database")
        position = queue_position(session, job)
    settings = get_settings()
    estimate = pending_estimate(
        position,
        typical_duration_s(),
        parallel=settings.upstream_max_in_flight,
        submits_per_s=settings.upstream_submits_per_minute / 60,
    )
    return {
        "progress": estimate.progress,
        "estimatedTime": estimate.remaining_s,
        "queuePosition": position,
    }
