"""The upstream's recent error rate, shared by every worker and read by GET /api/ready.

A worker process adds up its upstream calls' outcomes in memory (`count`, from the metered
adapter) and writes them to Redis once per task (`flush`): one pipelined round trip per task,
not one per call, in per-minute buckets that expire after WINDOW_MINUTES.
"""

import threading
import time
from collections import Counter
from dataclasses import dataclass

import redis

from shared.redis_client import get_redis, rkey

KEY = "stats:upstream-outcomes"
WINDOW_MINUTES = 5
_pending: Counter[str] = Counter()
_lock = threading.Lock()


@dataclass(frozen=True)
class ErrorRate:
    calls: int
    errors: int

    @property
    def rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


def count(ok: bool) -> None:
    """One upstream call's outcome (an error: anything but an answer we could use)."""
    with _lock:
        _pending["ok" if ok else "error"] += 1


def forget_pending() -> None:
    """Drop what was counted and not yet written (tests switching to another stack)."""
    with _lock:
        _pending.clear()


def _bucket(minute: int) -> str:
    return rkey(KEY, str(minute))


def flush() -> None:
    """Write what this process counted since the last flush; a Redis error keeps it for later."""
    with _lock:
        counted = dict(_pending)
        _pending.clear()
    if not counted:
        return
    key = _bucket(int(time.time() // 60))
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            for field, n in counted.items():
                pipe.hincrby(key, field, n)
            pipe.expire(key, (WINDOW_MINUTES + 1) * 60)
            pipe.execute()
    except redis.RedisError:
        with _lock:
            _pending.update(counted)


def recent(client: "redis.Redis") -> ErrorRate:
    """The calls and errors of the last WINDOW_MINUTES minutes (the current one included)."""
    now = int(time.time() // 60)
    with client.pipeline(transaction=False) as pipe:
        for minute in range(now - WINDOW_MINUTES + 1, now + 1):
            pipe.hgetall(_bucket(minute))
        buckets = pipe.execute()
    ok = sum(int(b.get("ok", 0)) for b in buckets)
    errors = sum(int(b.get("error", 0)) for b in buckets)
    return ErrorRate(ok + errors, errors)
