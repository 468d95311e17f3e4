"""Global limits held in Redis, shared by every gateway and worker process on every host.

Each is a single Lua script using the server's clock (TIME), so hosts with skewed clocks
agree and each check-and-take is atomic.
"""

import logging
from dataclasses import dataclass

import redis

from shared.constants import KEY_IN_FLIGHT, KEY_SUBMIT_BUCKET
from shared.redis_client import get_redis, rkey
from shared.settings import get_settings

log = logging.getLogger(__name__)

# Each limit is a Lua function of its key and arguments, so a script can check several in
# one round trip (each admitted job's in-flight slot and submit token: `reserve_capacity_for`).
_TAKE_TOKENS = """
local function refilled(key, capacity, rate)
  local now_parts = redis.call('TIME')
  local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1e6
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or capacity
  local ts = tonumber(state[2]) or now
  return math.min(capacity, tokens + math.max(0, now - ts) * rate), now
end
local function take_tokens(key, capacity, rate, wanted)
  local tokens, now = refilled(key, capacity, rate)
  local taken = math.min(wanted, math.floor(tokens))
  tokens = tokens - taken
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('EXPIRE', key, math.ceil(capacity / rate) + 60)
  return taken
end
"""

_ACQUIRE_SLOT = """
local function acquire_slot(key, holder, limit, ttl)
  local t = tonumber(redis.call('TIME')[1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', t)
  if redis.call('ZSCORE', key, holder) or redis.call('ZCARD', key) < limit then
    redis.call('ZADD', key, t + ttl, holder)
    return 1
  end
  return 0
end
"""

_TOKEN_BUCKET = (
    _TAKE_TOKENS
    + "return take_tokens(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))"
)
_SEMAPHORE_ACQUIRE = (
    _ACQUIRE_SLOT + "return acquire_slot(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))"
)
# Read only: how many submits the quota would admit now (whole tokens, free in-flight slots).
_CAPACITY = (
    _TAKE_TOKENS
    + """
local t = tonumber(redis.call('TIME')[1])
local free = tonumber(ARGV[3]) - redis.call('ZCOUNT', KEYS[1], '(' .. t, '+inf')
local tokens = refilled(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
return math.max(0, math.min(free, math.floor(tokens)))
"""
)
# A slot and a token for each holder in turn, until one is refused; returns how many got both.
_SLOTS_AND_TOKENS = (
    _ACQUIRE_SLOT
    + _TAKE_TOKENS
    + """
local reserved = 0
for i = 5, #ARGV do
  if acquire_slot(KEYS[1], ARGV[i], tonumber(ARGV[1]), tonumber(ARGV[2])) == 0 then break end
  if take_tokens(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), 1) == 0 then
    redis.call('ZREM', KEYS[1], ARGV[i])
    break
  end
  reserved = reserved + 1
end
return reserved
"""
)


@dataclass(frozen=True)
class WindowResult:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int


def take_tokens(
    client: redis.Redis, key: str, *, per_second: float, burst: float, wanted: int
) -> int:
    """Take up to `wanted` tokens from a bucket refilled at `per_second`; returns how many."""
    return int(client.eval(_TOKEN_BUCKET, 1, key, burst, per_second, wanted))


def return_tokens(client: redis.Redis, key: str, count: int) -> None:
    """Give back tokens taken but not used (the next take caps the bucket at its capacity)."""
    if count > 0:
        client.hincrbyfloat(key, "tokens", count)


def acquire_slot(client: redis.Redis, key: str, holder: str, *, limit: int, ttl_s: int) -> bool:
    """Hold (or refresh) one of `limit` slots for `ttl_s`; a holder that dies frees it on expiry."""
    return bool(client.eval(_SEMAPHORE_ACQUIRE, 1, key, holder, limit, ttl_s))


def release_slot(client: redis.Redis, key: str, holder: str) -> None:
    client.zrem(key, holder)


@dataclass(frozen=True)
class SubmitQuota:
    """The global submit limits, as the scripts take them."""

    in_flight: int  # most jobs between admission and their end, upstream
    ttl_s: int  # a slot whose holder vanished frees itself after this
    per_second: float
    burst: float  # at most 10 s of quota at once

    @classmethod
    def from_settings(cls) -> "SubmitQuota":
        settings = get_settings()
        per_minute = settings.upstream_submits_per_minute
        return cls(
            in_flight=settings.upstream_max_in_flight,
            ttl_s=int(settings.job_deadline_s + 600),
            per_second=per_minute / 60,
            burst=max(1.0, per_minute / 6),
        )


def available_capacity() -> int:
    """How many submits the quota would admit now (free slots and whole tokens); takes nothing,
    so a dispatcher with nothing to admit costs one round trip."""
    quota = SubmitQuota.from_settings()
    keys = (rkey(KEY_IN_FLIGHT), rkey(KEY_SUBMIT_BUCKET))
    limits = (quota.burst, quota.per_second, quota.in_flight)
    return int(get_redis().eval(_CAPACITY, 2, *keys, *limits))


def reserve_capacity_for(job_ids: list[str]) -> int:
    """One in-flight slot and one submit token for each job in order, until one is refused (a
    slot without a token is given back), in one round trip; how many (the first ones) now hold
    a slot and have spent a token."""
    if not job_ids:
        return 0
    quota = SubmitQuota.from_settings()
    keys = (rkey(KEY_IN_FLIGHT), rkey(KEY_SUBMIT_BUCKET))
    limits = (quota.in_flight, quota.ttl_s, quota.burst, quota.per_second)
    return int(get_redis().eval(_SLOTS_AND_TOKENS, 2, *keys, *limits, *job_ids))


def return_submit_tokens(count: int) -> None:
    """Give back submit tokens reserved for jobs that were then not admitted."""
    return_tokens(get_redis(), rkey(KEY_SUBMIT_BUCKET), count)


def release_capacity(*job_ids: str) -> None:
    """Give back the upstream in-flight slots of these jobs (one round trip for a poll batch);
    best effort: a slot left behind expires, and the sweeper reconciles the set."""
    if not job_ids:
        return
    try:
        pipe = get_redis().pipeline(transaction=False)
        for job_id in job_ids:
            release_slot(pipe, rkey(KEY_IN_FLIGHT), job_id)
        pipe.execute()
    except redis.RedisError:
        log.warning("could not release %d in-flight slot(s); they expire anyway", len(job_ids))
