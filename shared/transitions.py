"""The one compare-and-set of each state machine (shared.states): jobs and webhook deliveries.

Every task can run twice, even concurrently, so a state change is a single conditional UPDATE
whose WHERE clause names the states it may leave; whoever changes the row owns the step. Both
machines build their statements with `_compare_and_set`, once per shape of move.
"""

from collections.abc import Sequence
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Connection, Result, Row, Table, Update, bindparam, literal_column, update
from sqlmodel import Session

from shared.models import DELIVERIES, JOBS
from shared.states import ALLOWED_FROM, DELIVERY_MOVES, STAMPS, DeliveryMove, JobStatus
from shared.timeutil import utcnow


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
    # Core on the session's connection: an ORM-enabled UPDATE, built per call, cost a job's
    # three moves about as much CPU as the rest of its database work.
    return _connection(session).execute(statement, _parameters(job_id, values, guard))


@cache
def _transition_statement(
    to: JobStatus,
    columns: tuple[str, ...],
    guards: tuple[tuple[str, bool], ...],
    *,
    returning: tuple[str, ...],
) -> Update:
    """A job's compare-and-set for one shape of move, built once (see `_compare_and_set`)."""
    return _compare_and_set(
        JOBS, to, ALLOWED_FROM[to], columns=columns, guards=guards, returning=returning
    )


def transition_deliveries(
    session: Session | Connection,
    move: DeliveryMove,
    changes: Sequence[tuple[str, dict[str, Any]]],
    *,
    guard: dict[str, Any] | None = None,
) -> int:
    """Make `move` for each (delivery id, columns to set) whose row is in a state the move
    leaves (and matches `guard`); how many rows moved. One statement, sent once for all of
    them (an executemany): every change sets the same columns. The caller commits."""
    if not changes:
        return 0
    now = utcnow()
    guard = guard or {}
    rows = [
        _parameters(delivery_id, {**values, "updated_at": now}, guard)
        for delivery_id, values in changes
    ]
    statement = _delivery_statement(
        move,
        tuple(sorted({*changes[0][1], "updated_at"})),
        tuple(sorted((column, expected is None) for column, expected in guard.items())),
    )
    result = _connection(session).execute(statement, rows[0] if len(rows) == 1 else rows)
    return int(result.rowcount)


@cache
def _delivery_statement(
    move: DeliveryMove, columns: tuple[str, ...], guards: tuple[tuple[str, bool], ...]
) -> Update:
    """A delivery's compare-and-set for one shape of move, built once (see `_compare_and_set`)."""
    leaves, enters = DELIVERY_MOVES[move]
    return _compare_and_set(
        DELIVERIES, enters, leaves, columns=columns, guards=guards, returning=()
    )


def _connection(session: Session | Connection) -> Connection:
    return session.connection() if isinstance(session, Session) else session


def _parameters(row_id: str, values: dict[str, Any], guard: dict[str, Any]) -> dict[str, Any]:
    """One move's bound parameters, named as `_compare_and_set` binds them."""
    params = {f"v_{column}": value for column, value in values.items()}
    params.update({f"g_{column}": expected for column, expected in guard.items()})
    params["row_id"] = row_id
    return params


def _compare_and_set(
    table: Table,
    to: StrEnum,
    allowed: frozenset[StrEnum],
    *,
    columns: tuple[str, ...],
    guards: tuple[tuple[str, bool], ...],
    returning: tuple[str, ...],
) -> Update:
    """`UPDATE table SET status = to, <columns> WHERE id = :row_id AND status IN (<allowed>)
    [AND <guards>] [RETURNING …]`, with bound parameters, so a caller that caches it reuses
    the compiled SQL for every later move. The states are our own constants, inlined rather
    than bound (no IN expansion); a guard is an equality check, or IS NULL when expecting None.
    """
    states = sorted(f"'{status}'" for status in allowed)
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("row_id", type_=table.c.id.type),
            table.c.status.in_([literal_column(status) for status in states]),
        )
        .values(
            status=literal_column(f"'{to}'"),
            **{c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns},
        )
    )
    for column, is_null in guards:
        target = table.c[column]
        statement = statement.where(
            target.is_(None) if is_null else target == bindparam(f"g_{column}", type_=target.type)
        )
    return statement.returning(*(table.c[c] for c in returning)) if returning else statement
