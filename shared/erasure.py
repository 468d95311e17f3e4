"""What erasing a job leaves on its row, and the one function that deletes a job for its owner
(DELETE /api/videos/{uuid}). `veo-admin delete-account` (admin/erase.py) erases every job of
an account with the same columns.

Erased: the stored video, what the owner wrote on the row (prompt, image URL and key, webhook
URL and events, idempotency key and request hash, error text) and the job's webhook deliveries
(their payloads repeat the prompt). Kept: the row's id, type, status, charge, upstream
operation and dates, and every ledger row, so the balance and the upstream bill still add up.
The status mirror is told first (a Redis that cannot be told refuses the deletion), files go
before rows, so a storage error leaves the row that names them for the next try.
"""

from collections.abc import Iterable

import redis
from sqlalchemy import delete, select, update
from sqlmodel import col

from shared import status_cache
from shared.db import read_connection, write_session
from shared.errors import NotFound, ServiceUnavailable, invalid
from shared.models import JOBS, WebhookDelivery, video_files
from shared.states import PUBLIC_STATUS, TERMINAL, JobStatus
from shared.storage import get_storage
from shared.timeutil import utcnow

# What the owner wrote on a job row, and what erasing leaves there.
ERASED_JOB_COLUMNS: dict[str, object] = {
    "prompt": "",
    "image_url": None,
    "image_key": None,
    "webhook_url": None,
    "webhook_events": None,
    "idempotency_key": None,
    "request_hash": None,
    "error_message": None,
    "video_key": None,
    "video_keys": None,
    "options": None,  # a negative prompt, image URLs and keys
}
_jobs = JOBS


def erase_files(keys: Iterable[str]) -> int:
    """Delete these stored objects (a missing one is no error); how many were asked for."""
    storage = get_storage()
    count = 0
    for key in keys:
        storage.delete(key)
        count += 1
    return count


def delete_job(account_id: str, job_id: str) -> None:
    """Erase the account's finished job (see the module's docstring) and mark it deleted: from
    then on it answers like an unknown one. NotFound for an unknown (or another account's, or
    deleted) job; the 1000 "uuid" error for one still in progress (cancel it first)."""
    with read_connection() as connection:
        job = connection.execute(
            select(_jobs.c.status, _jobs.c.video_key, _jobs.c.video_keys).where(
                _jobs.c.id == job_id,
                _jobs.c.account_id == account_id,
                _jobs.c.deleted_at.is_(None),
            )
        ).first()
    if job is None:
        raise NotFound("Video not found")
    status = JobStatus(job.status)
    if status not in TERMINAL:
        raise invalid(
            "uuid", f"the video is still {PUBLIC_STATUS[status]}: cancel it before deleting it"
        )
    try:
        status_cache.mark_deleted(job_id)  # first: from now on the status answers "not found"
    except redis.RedisError as error:
        raise ServiceUnavailable("Could not delete the video now; try again") from error
    erase_files(video_files(job.video_key, job.video_keys))
    with write_session() as session:
        session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.job_id) == job_id))
        erased = (
            session.connection()
            .execute(
                update(_jobs)
                .where(_jobs.c.id == job_id, _jobs.c.deleted_at.is_(None))
                .values(**ERASED_JOB_COLUMNS, deleted_at=utcnow())
            )
            .rowcount
        )
        session.commit()
    if not erased:  # a concurrent DELETE of the same job won
        raise NotFound("Video not found")
