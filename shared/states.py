"""The job state machine: statuses, the one transition table, and the one compare-and-set.

Every task can run twice, even concurrently, so a state change is a single conditional UPDATE
whose WHERE clause names the states it may leave; whoever changes the row owns the step.
"""

from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Connection, Result, Row, Update, bindparam, literal_column, update
from sqlmodel import Session

from shared.models import JOBS
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
    session: Session | Connection,
    job_id: str,
    to: JobStatus,
    *,
    guard: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move `job_id` to `to` if it is in an allowed state (and matches `guard`); True if it moved.

    The caller commits (nothing to commit on an autocommit connection). `guard` adds column
    equality checks (e.g. the submit attempt number), `values` are further columns to set in
    the same statement.
    """
    result = _move(session, job_id, to, guard, values, returning=())
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def transition_returning(
    session: Session | Connection,
    job_id: str,
    to: JobStatus,
    *,
    returning: tuple[str, ...],
    guard: dict[str, Any] | None = None,
    **values: Any,
) -> Row[Any] | None:
    """`transition()`, handing back the `returning` columns of the moved row as it now is (None
    if it did not move): the same statement's RETURNING, so the caller needs no reload. Only
    the columns asked for: each returned column costs the driver and SQLAlchemy work."""
    return _move(session, job_id, to, guard, values, returning=returning).first()


def _move(
    session: Session | Connection,
    job_id: str,
    to: JobStatus,
    guard: dict[str, Any] | None,
    values: dict[str, Any],
    *,
    returning: tuple[str, ...],
) -> Result[Any]:
    now = utcnow()
    stamp = STAMPS.get(to)
    if stamp is not None:
        values.setdefault(stamp, now)
    values["updated_at"] = now
    guard = guard or {}
    statement = _transition_statement(
        to,
        tuple(sorted(values)),
        tuple(sorted((column, expected is None) for column, expected in guard.items())),
        returning=returning,
    )
    params = {f"v_{column}": value for column, value in values.items()}
    params.update({f"g_{column}": expected for column, expected in guard.items()})
    params["job_id"] = job_id
    # Core on the session's connection: an ORM-enabled UPDATE, built per call, cost a job's
    # three moves about as much CPU as the rest of its database work.
    connection = session.connection() if isinstance(session, Session) else session
    return connection.execute(statement, params)


@cache
def _transition_statement(
    to: JobStatus,
    columns: tuple[str, ...],
    guards: tuple[tuple[str, bool], ...],
    *,
    returning: tuple[str, ...],
) -> Update:
    """The compare-and-set for one shape of move (its target, the columns it sets, guards and
    returns), built once with bound parameters so every later move reuses the compiled SQL.
    The allowed states are our own constants, inlined rather than bound (no IN expansion)."""
    allowed = sorted(f"'{status.value}'" for status in ALLOWED_FROM[to])
    statement = (
        update(JOBS)
        .where(
            JOBS.c.id == bindparam("job_id", type_=JOBS.c.id.type),
            JOBS.c.status.in_([literal_column(status) for status in allowed]),
        )
        .values(
            status=literal_column(f"'{to.value}'"),
            **{c: bindparam(f"v_{c}", type_=JOBS.c[c].type) for c in columns},
        )
    )
    for column, is_null in guards:
        target = JOBS.c[column]
        statement = statement.where(
            target.is_(None) if is_null else target == bindparam(f"g_{column}", type_=target.type)
        )
    return statement.returning(*(JOBS.c[c] for c in returning)) if returning else statement
