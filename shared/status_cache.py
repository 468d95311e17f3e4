"""Jobs that reached `processing` or a terminal state, mirrored in Redis, so the endpoint clients
poll answers from the one round trip that also authenticates and counts the rate limit.

Written after each commit that moves a job into one of those states (shared.lifecycle), and
filled by the gateway from the database on a miss; each write is also published on the job's
channel, in the same call, for the requests that wait (shared.job_events). Pending jobs are
not mirrored (their queue position is a live count). An entry never replaces one of a later
state (each carries its state's rank), so a fill that read the row before a move cannot undo
it. Terminal states never change, so their entries are never stale. A finish whose write was
lost (Redis unreachable right after the commit) is written again by the sweeper, which mirrors
every job finished since its last successful pass (worker/tasks/sweep.py);
`status_mirror_processing_ttl_s` bounds the rest, should Redis stay unreachable from the
workers. A wiped Redis costs database reads only.
"""

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import redis

from shared.constants import KEY_JOB_STATUS
from shared.job_events import channel
from shared.job_view import STATUS_FIELDS, JobView, StatusRow
from shared.redis_client import get_redis, rkey
from shared.settings import get_settings
from shared.states import JobStatus

log = logging.getLogger(__name__)

TERMINAL_TTL_S = 3600
RANKS: dict[str, int] = {
    JobStatus.PROCESSING.value: 1,
    JobStatus.COMPLETED.value: 2,
    JobStatus.FAILED.value: 2,
    JobStatus.CANCELLED.value: 2,
}
# A deleted job's entry: outranks every status, so a fill or a sweep that read the row before
# the deletion cannot bring its prompt and video back (the status answers "not found").
DELETED_RANK = 3
DELETED_ENTRY = f"{DELETED_RANK}deleted"
_TIMES = frozenset({"created_at", "updated_at", "processing_at", "completed_at"})

# KEYS[1]: the entry, KEYS[2]: the job's channel (shared.job_events), where the entry is
# published when written. ARGV: rank (one digit), JSON, TTL (s). Returns 1 if written.
SET_UNLESS_LATER = """
local current = redis.call('GET', KEYS[1])
if current and tonumber(string.sub(current, 1, 1)) > tonumber(ARGV[1]) then return 0 end
local entry = ARGV[1] .. ARGV[2]
redis.call('SET', KEYS[1], entry, 'EX', ARGV[3])
redis.call('PUBLISH', KEYS[2], entry)
return 1
"""


def entry_key(job_id: str) -> str:
    return rkey(KEY_JOB_STATUS, job_id)


def _encode(job: JobView) -> str:
    values: list[Any] = []
    for name in STATUS_FIELDS:
        value = getattr(job, name)
        values.append(value.isoformat() if isinstance(value, datetime) else value)
    return json.dumps(values, separators=(",", ":"))


def is_deleted(entry: str) -> bool:
    return entry == DELETED_ENTRY


def decode(entry: str) -> StatusRow | None:
    """An entry as read by the gateway (rank digit first); None for one it cannot read (a
    deleted job's, or one written by a version with other fields): ask the database."""
    if is_deleted(entry):
        return None
    values = json.loads(entry[1:])
    if len(values) != len(STATUS_FIELDS):
        return None
    for index, name in enumerate(STATUS_FIELDS):
        if name in _TIMES and values[index] is not None:
            values[index] = datetime.fromisoformat(values[index])
    return StatusRow(*values)


def mark_deleted(job_id: str) -> None:
    """Replace the job's entry with DELETED_ENTRY, before the deletion erases anything: an entry
    mirrored earlier must not keep answering with the prompt. Raises redis.RedisError."""
    get_redis().eval(
        SET_UNLESS_LATER,
        2,
        entry_key(job_id),
        channel(job_id),  # waiters on it learn at once that it is gone
        DELETED_RANK,
        "deleted",
        TERMINAL_TTL_S,
    )


def watermark_key() -> str:
    """Where the sweeper keeps the time up to which finished jobs are known to be mirrored."""
    return rkey(KEY_JOB_STATUS, "mirrored-until")


def mirrored_until() -> float | None:
    """The sweeper's watermark (epoch seconds), or None if Redis has none or is unreachable."""
    try:
        value = get_redis().get(watermark_key())
    except redis.RedisError:
        return None
    return float(str(value)) if value is not None else None


def store(jobs: Iterable[JobView], *, watermark: float | None = None) -> None:
    """Mirror these jobs, as committed, and set the sweeper's watermark if given, in one round
    trip; best effort (logged): the sweeper writes finishes again, and entries expire."""
    processing_ttl_s = get_settings().status_mirror_processing_ttl_s
    pipe = get_redis().pipeline(transaction=False)
    for job in jobs:
        rank = RANKS.get(job.status)
        if rank is None:
            continue
        ttl_s = processing_ttl_s if rank == 1 else TERMINAL_TTL_S
        pipe.eval(
            SET_UNLESS_LATER, 2, entry_key(job.id), channel(job.id), rank, _encode(job), ttl_s
        )
    if watermark is not None:
        pipe.set(watermark_key(), f"{watermark:.6f}", ex=processing_ttl_s)
    if not len(pipe):
        return
    try:
        pipe.execute()
    except redis.RedisError as error:
        log.warning("Could not mirror job statuses to Redis (%r); the sweeper retries", error)
