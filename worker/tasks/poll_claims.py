"""Claims: which processing jobs are due for a look, taken by one poller at a time.

A claim moves the job's next poll a lease ahead (`poll_claim_s`), so concurrent pollers skip it
and a poller killed mid-batch loses nothing: the job is due again when the lease runs out.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import Session, col

from shared.estimates import record_poll_lateness
from shared.models import Job
from shared.settings import get_settings
from shared.states import JobStatus
from shared.timeutil import utcnow
from worker.tasks.decisions import early_window_s


@dataclass(frozen=True)
class Claimed:
    job_id: str
    operation: str
    poll_count: int
    deadline_at: datetime | None
    started_at: datetime | None  # when the upstream accepted it (processing_at)
    submit_attempts: int = 0
    operation_resubmits: int = 0


def claim_due(session: Session, limit: int) -> list[Claimed]:
    """Claim up to `limit` jobs due by the middle of the next tick, by moving their next poll a
    lease ahead.

    PostgreSQL: FOR UPDATE SKIP LOCKED lets concurrent pollers take disjoint batches. SQLite:
    SQLAlchemy emits no FOR UPDATE, but the writer lock taken by BEGIN IMMEDIATE already makes
    the select-then-update atomic.
    """
    settings = get_settings()
    now = utcnow()
    due_by = now + timedelta(seconds=early_window_s(settings))
    rows = session.execute(
        select(
            col(Job.id),
            col(Job.upstream_operation),
            col(Job.poll_count),
            col(Job.deadline_at),
            col(Job.next_poll_at),
            col(Job.processing_at),
            col(Job.submit_attempts),
            col(Job.operation_resubmits),
        )
        .where(col(Job.status) == JobStatus.PROCESSING.value, col(Job.next_poll_at) <= due_by)
        .order_by(col(Job.next_poll_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if rows:
        session.execute(
            update(Job)
            .where(col(Job.id).in_([r.id for r in rows]))
            .values(next_poll_at=now + timedelta(seconds=settings.poll_claim_s))
            .execution_options(synchronize_session=False)
        )
    session.commit()
    record_poll_lateness([(now - r.next_poll_at).total_seconds() for r in rows])
    return [
        Claimed(
            r.id,
            r.upstream_operation,
            r.poll_count,
            r.deadline_at,
            r.processing_at,
            r.submit_attempts,
            r.operation_resubmits,
        )
        for r in rows
    ]
