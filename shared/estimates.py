"""Honest progress and time-remaining estimates.

The upstream reports no progress, so we compare a job's elapsed time with how long recently
completed jobs took (a rolling window in Redis, written by the worker at completion).
"""

import statistics
import time
from dataclasses import dataclass
from typing import Any

import redis

from shared.constants import KEY_POLL_LATENESS, KEY_RECENT_DURATIONS
from shared.redis_client import get_redis, rkey
from shared.settings import get_settings

WINDOW = 50
# Kept in Redis: enough that WINDOW settled samples remain after a burst of recent ones.
STORED = 1000
LATENESS_WINDOW = 20_000
CACHE_TTL_S = 5.0
# Used until the first jobs complete: the middle of Veo's documented 11 s to 6 min range.
PRIOR_DURATION_S = 90.0

_cache: tuple[float, list[float]] = (0.0, [])


def record_durations(seconds: list[float]) -> None:
    """Remember how long completed jobs spent upstream, each with when it started
    (`duration@start`, epoch seconds), so readers can wait until its cohort has settled."""
    now = time.time()
    _push_capped(KEY_RECENT_DURATIONS, [f"{s:.3f}@{now - s:.0f}" for s in seconds], STORED)


def record_poll_lateness(seconds: list[float]) -> None:
    """Keep the latest poll latenesses (how long after its due time a poll started) for
    operators and the benchmark."""
    _push_capped(KEY_POLL_LATENESS, [f"{s:.4f}" for s in seconds], LATENESS_WINDOW)


def _push_capped(key: str, values: list[str], keep: int) -> None:
    """Newest first, at most `keep` values; best effort (Redis may be away)."""
    if not values:
        return
    try:
        pipe = get_redis().pipeline()
        pipe.lpush(rkey(key), *values)
        pipe.ltrim(rkey(key), 0, keep - 1)
        pipe.execute()
    except redis.RedisError:
        pass


def forget_recent() -> None:
    """Drop the per-process copy (tests that record durations read them back at once)."""
    global _cache  # noqa: PLW0603 - a tiny per-process cache
    _cache = (0.0, [])


def recent_durations_s() -> list[float]:
    """How long the latest completed jobs spent upstream, newest first; cached briefly per
    process (the progress estimates and the poll schedule read it on every request or batch)."""
    global _cache  # noqa: PLW0603 - a tiny per-process cache
    fetched_at, samples = _cache
    if time.monotonic() - fetched_at < CACHE_TTL_S:
        return samples
    try:
        stored = get_redis().lrange(rkey(KEY_RECENT_DURATIONS), 0, STORED - 1)
    except redis.RedisError:
        stored = []
    samples = settled(stored, time.time() - get_settings().poll_history_settle_s)[:WINDOW]
    _cache = (time.monotonic(), samples)
    return samples


def settled(stored: list[Any], started_by: float) -> list[float]:
    """The durations of jobs that started by `started_by`, newest first.

    The latest completions alone are a biased sample whenever arrivals are uneven: right after
    a burst, only its quick jobs have finished, and a schedule fitted to them would poll its
    slow ones at the floor. Jobs that started long enough ago (VEO_POLL_HISTORY_SETTLE_S,
    past Veo's slowest) have nearly all finished, quick and slow alike.
    """
    out = []
    for value in stored:
        duration, _, start = str(value).partition("@")
        if not start or float(start) <= started_by:
            out.append(float(duration))
    return out


def typical_duration_s() -> float:
    """Median of recent upstream durations."""
    samples = recent_durations_s()
    return statistics.median(samples) if samples else PRIOR_DURATION_S


@dataclass(frozen=True)
class Estimate:
    progress: int
    remaining_s: int


def processing_estimate(elapsed_s: float, typical_s: float) -> Estimate:
    """Progress rises with elapsed time and never claims 100 before the video is stored.

    Past the typical duration, progress creeps towards 99 and the remaining time shrinks to a
    floor instead of going negative, as a job that runs long still has some way to go.
    """
    typical_s = max(typical_s, 1.0)
    ratio = max(elapsed_s, 0.0) / typical_s
    if ratio < 0.9:
        progress = 5 + int(ratio * 85)
        remaining = typical_s - elapsed_s
    else:
        progress = min(99, 81 + int((1 - 1 / (1 + ratio - 0.9)) * 18))
        remaining = max(typical_s * 0.1, 5.0) / ratio
    return Estimate(progress=max(1, min(progress, 99)), remaining_s=max(1, round(remaining)))


def pending_estimate(
    position: int, typical_s: float, *, parallel: int, submits_per_s: float
) -> Estimate:
    """A waiting job: each of the `position` jobs admitted before it spends one quota token
    (one every 1 / `submits_per_s` seconds) and, once the in-flight cap binds, waits for a slot
    (one frees every `typical_s / parallel` seconds on average); then its own generation."""
    per_job_s = max(1 / max(submits_per_s, 1e-9), max(typical_s, 1.0) / max(parallel, 1))
    return Estimate(progress=0, remaining_s=max(1, round(position * per_job_s + typical_s)))
