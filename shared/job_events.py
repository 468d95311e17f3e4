"""A job's public changes on Redis pub/sub, for requests that wait (`Prefer: wait`, the event
stream) instead of polling: one channel per job, under the deployment's key prefix.

Published in the one place a job's visible state is written after its commit: the status
mirror's write (shared.status_cache.store), in the same Lua call, so a publish costs no extra
round trip and goes out only when the entry it carries was written (never an older state over
a newer one). Every public change passes there: the moves to processing and to a terminal state
(shared.lifecycle), the sweeper's rewrite of finishes whose write was lost, and the gateway's
fill. The moves between pending, admitted and submitting are not public (all show `pending`).

A message is the mirror's entry itself (rank digit, then the job's StatusRow as JSON:
shared.status_cache.decode), so a listener renders the status answer without the database.
Pub/sub keeps nothing: a listener subscribes first and reads the current state second, so a
change made between the two is seen in one or the other.
"""

from shared.constants import KEY_JOB_EVENTS
from shared.redis_client import rkey
from shared.states import PUBLIC_STATUS, TERMINAL

# The public statuses a job never leaves.
TERMINAL_PUBLIC = frozenset(PUBLIC_STATUS[status] for status in TERMINAL)


def channel(job_id: str) -> str:
    """The job's channel."""
    return rkey(KEY_JOB_EVENTS, job_id)
