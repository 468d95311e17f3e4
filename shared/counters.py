"""Durable running counts for operators (the `ops_counters` table), shown in /api/health.

In the database rather than Redis: a count of paid calls whose outcome is unknown must survive
a Redis restart, and it is bumped in the same transaction as the job's own move, so the count
and the jobs it counts cannot disagree.
"""

from collections.abc import Iterable

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from shared.models import OPS_COUNTERS
from shared.timeutil import utcnow

# Submits sent but never answered (read timeout, dropped connection, 504): each may be a
# generation the upstream bills without our knowing its operation.
UNKNOWN_SUBMITS = "unknown_submits"

_counters = OPS_COUNTERS


def bump(session: Session | Connection, name: str, by: int = 1) -> None:
    """Add `by` to a counter (created at `by`), atomically; the caller commits."""
    connection = session.connection() if isinstance(session, Session) else session
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    statement = insert(_counters).values(name=name, value=by, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[_counters.c.name],
        set_={"value": _counters.c.value + by, "updated_at": now},
    )
    connection.execute(statement)


def read(connection: Connection, names: Iterable[str]) -> dict[str, int]:
    """The named counters' values; a counter never bumped reads 0."""
    wanted = list(names)
    rows = connection.execute(
        select(_counters.c.name, _counters.c.value).where(_counters.c.name.in_(wanted))
    )
    found = {row.name: int(row.value) for row in rows}
    return {name: found.get(name, 0) for name in wanted}
