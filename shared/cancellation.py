"""Cancelling a job for its owner (POST /api/videos/{uuid}/cancel), and what the workers do with
the result of a job cancelled while they worked on it.

The refund rule: a job cancelled before it reached `processing` (its public status `pending`:
waiting, admitted, or being submitted) gets its credits back; a job cancelled while
`processing` does not, since the upstream is already generating it and bills it. Veo's
operations have no documented cancel (neither the Gemini API nor Vertex AI lists one for them),
so the generation runs to its end upstream and its result is discarded: the poller no longer
looks at the job, and a video it fetched meanwhile is deleted.

The cancel is one compare-and-set like every other move (shared.transitions), guarded by the
status it read, so it knows which state the job left and refunds by that; against a worker's
move (a completion, a failure) exactly one wins, and the ledger's unique key refuses a second
refund in any case.
"""

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, select, update

from shared.db import read_connection, statement_connection, write_session
from shared.errors import InvalidParameters, NotFound, ServiceUnavailable, invalid
from shared.job_view import STATUS_FIELDS, status_data
from shared.lifecycle import STEP_FIELDS, Step, advance_all
from shared.models import JOBS
from shared.quotas import release_capacity
from shared.states import PUBLIC_STATUS, TERMINAL, JobStatus
from shared.storage import get_storage

log = logging.getLogger(__name__)
_jobs = JOBS
# Not yet generating upstream: a cancel gives the credits back.
REFUNDED_FROM = frozenset({JobStatus.PENDING, JobStatus.ADMITTED, JobStatus.SUBMITTING})
# Holding an upstream in-flight slot (shared.quotas), given back on cancel.
HOLDS_SLOT = frozenset({JobStatus.ADMITTED, JobStatus.SUBMITTING, JobStatus.PROCESSING})
# A job moves forward at most four times; a cancel that loses more races than that gives up.
CANCEL_TRIES = 8


def _own_job(account_id: str, job_id: str) -> Row[Any] | None:
    columns = {*STEP_FIELDS, *STATUS_FIELDS}
    with read_connection() as connection:
        return connection.execute(
            select(*(_jobs.c[name] for name in sorted(columns))).where(
                _jobs.c.id == job_id,
                _jobs.c.account_id == account_id,
                _jobs.c.deleted_at.is_(None),
            )
        ).first()


def not_cancellable(status: JobStatus) -> InvalidParameters:
    return invalid(
        "uuid",
        f"the video is already {PUBLIC_STATUS[status]}: only a pending or processing video"
        " can be cancelled",
    )


def cancel_job(account_id: str, job_id: str) -> dict[str, Any]:
    """Cancel the account's job and return its status answer; NotFound for an unknown job (or
    another account's), the 1000 "uuid" error for one already finished."""
    for _ in range(CANCEL_TRIES):
        job = _own_job(account_id, job_id)
        if job is None:
            raise NotFound("Video not found")
        left = JobStatus(job.status)
        if left in TERMINAL:
            raise not_cancellable(left)
        step = Step(
            job,
            JobStatus.CANCELLED,
            {"next_poll_at": None},
            guard={"status": left.value},  # the state it leaves decides the refund
            refund=left in REFUNDED_FROM,
        )
        with write_session() as session:
            moved = advance_all(session, [step])[0]
        if moved:
            if left in HOLDS_SLOT:
                release_capacity(job_id)
            log.info("job %s cancelled by its owner while %s", job_id, left.value)
            fresh = _own_job(account_id, job_id)
            assert fresh is not None  # a cancelled job is deleted only by its owner, later
            return status_data(None, fresh)
    raise ServiceUnavailable("The video kept changing state; try again")


def keep_discarded_operation(job_id: str, operation: str) -> bool:
    """The upstream accepted a submit for a job cancelled meanwhile: note the operation on the
    cancelled row (the upstream bills it) and say so; False if the job is not cancelled."""
    with statement_connection() as connection:
        result = connection.execute(
            update(_jobs)
            .where(
                _jobs.c.id == job_id,
                _jobs.c.status == JobStatus.CANCELLED.value,
                _jobs.c.upstream_operation.is_(None),
            )
            .values(upstream_operation=operation)
        )
    return bool(result.rowcount == 1)


def discard_cancelled_videos(stored: Iterable[tuple[str, str]]) -> int:
    """Delete videos (job id, storage key) fetched for jobs whose completion lost to a cancel:
    nothing serves them. Only cancelled jobs' files go: a completion that lost to another
    poller's completion of the same job wrote the file the winner's row names."""
    keys: dict[str, list[str]] = {}
    for job_id, key in stored:
        keys.setdefault(job_id, []).append(key)
    if not keys:
        return 0
    with read_connection() as connection:
        cancelled = connection.execute(
            select(_jobs.c.id).where(
                _jobs.c.id.in_(list(keys)), _jobs.c.status == JobStatus.CANCELLED.value
            )
        ).scalars()
        doomed = [key for job_id in cancelled for key in keys[job_id]]
    storage = get_storage()
    for key in doomed:
        storage.delete(key)
    return len(doomed)
