"""Global limits held in Redis, shared by every gateway and worker process on every host.

Each is a single Lua script using the server's clock (TIME), so hosts with skewed clocks
agree and each check-and-take is atomic.
"""

from dataclasses import dataclass

import redis

_TOKEN_BUCKET = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1e6
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local taken = math.min(wanted, math.floor(tokens))
tokens = tokens - taken
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return taken
"""  # noqa: S105 - a Lua script, not a password

_SEMAPHORE_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[1])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[1])
  return 1
end
return 0
"""


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
