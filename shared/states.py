"""The job state machine: statuses, the one transition table, and the one compare-and-set.

Every task can run twice, even concurrently, so a state change is a single conditional UPDATE
whose WHERE clause names the states it may leave; whoever changes the row owns the step.
"""

from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from shared.models import Job
from shared.timeutil import utcnow


class JobStatus(StrEnum):
    PENDING = "pending"  # paid for and queued; not yet sent upstream (or waiting for quota)
    SUBMITTING = "submitting"  # the paid upstream call is under way; attempt number recorded
    PROCESSING = "processing"  # the upstream accepted it; its operation name is stored
    COMPLETED = "completed"  # terminal: the MP4 is in our storage
    FAILED = "failed"  # terminal: error recorded; refunded unless it was the user's fault


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})

# Which states a job may enter each state from. Terminal states appear on no right-hand side.
ALLOWED_FROM: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.SUBMITTING}),  # upstream refused for now; retry later
    JobStatus.SUBMITTING: frozenset({JobStatus.PENDING, JobStatus.SUBMITTING}),
    JobStatus.PROCESSING: frozenset({JobStatus.SUBMITTING}),
    JobStatus.COMPLETED: frozenset({JobStatus.PROCESSING}),
    JobStatus.FAILED: frozenset({JobStatus.PENDING, JobStatus.SUBMITTING, JobStatus.PROCESSING}),
}

# The timestamp column each state stamps on entry.
STAMPS: dict[JobStatus, str] = {
    JobStatus.SUBMITTING: "submitted_at",
    JobStatus.PROCESSING: "processing_at",
    JobStatus.COMPLETED: "completed_at",
    JobStatus.FAILED: "failed_at",
}

# What the public API shows: the seed knows four statuses.
PUBLIC_STATUS: dict[JobStatus, str] = {
    JobStatus.PENDING: "pending",
    JobStatus.SUBMITTING: "pending",
    JobStatus.PROCESSING: "processing",
    JobStatus.COMPLETED: "completed",
    JobStatus.FAILED: "failed",
}


def transition(
    session: Session,
    job_id: str,
    to: JobStatus,
    *,
    guard: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move `job_id` to `to` if it is in an allowed state (and matches `guard`); True if it moved.

    The caller commits. `guard` adds column equality checks (e.g. the submit attempt number),
    `values` are further columns to set in the same statement.
    """
    now = utcnow()
    stamp = STAMPS.get(to)
    if stamp is not None:
        values.setdefault(stamp, now)
    stmt = (
        update(Job)
        .where(col(Job.id) == job_id, col(Job.status).in_([s.value for s in ALLOWED_FROM[to]]))
        .values(status=to.value, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    for column, expected in (guard or {}).items():
        stmt = stmt.where(getattr(Job, column) == expected)
    result = session.execute(stmt)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
