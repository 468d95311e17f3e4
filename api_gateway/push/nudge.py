"""A push for an operation makes its job due for a poll now; nothing else changes.

Only a job still `processing` with a later poll time moves: an unknown or foreign operation, a
finished job, or one already due is left as it is. A job whose poll is under way (its time moved
a lease ahead) may be looked at once more: a poll decides nothing twice.
"""

from sqlalchemy import update

from shared.db import write_transaction
from shared.models import JOBS
from shared.queueing import enqueue_poll
from shared.states import JobStatus
from shared.timeutil import utcnow


def poll_now(operation: str) -> bool:
    """Whether a job was made due; if so a poller is asked to look now, not at the next tick."""
    now = utcnow()
    with write_transaction() as connection:
        moved = connection.execute(
            update(JOBS)
            .where(
                JOBS.c.upstream_operation == operation,
                JOBS.c.status == JobStatus.PROCESSING,
                JOBS.c.next_poll_at > now,
            )
            .values(next_poll_at=now)
        ).rowcount
    if moved:
        enqueue_poll()
    return bool(moved)
