"""API keys cached in Redis, so a request authenticates and counts its rate limit in one round trip.

An entry holds what the database said about a key hash ("<key id> <account id> <limit or ->")
for CACHE_TTL_S. Revoking writes a tombstone that a racing fill (SET NX) cannot overwrite, so a
revoked key is refused at once wherever Redis is reachable; if it is not, the gateway asks the
database instead, and a stale entry outlives the revocation by CACHE_TTL_S at most.
"""

import hashlib
from dataclasses import dataclass

import redis

from shared.constants import KEY_API_KEY_CACHE, KEY_RATE_LIMIT
from shared.redis_client import delete_keys, get_redis, rkey

CACHE_TTL_S = 60
TOMBSTONE_TTL_S = 3600  # far longer than any fill that read the database before the revocation
RATE_WINDOW_S = 60
_REVOKED = "revoked"

# Every request of one event-loop turn in one call. ARGV: rate-limit key prefix, window (s),
# default limit, then per request how many KEYS are its own (1 or 2): its cache entry, and
# optionally a key to read in the same trip (a job's status). Returns, per request in order,
# {'miss'} | {'revoked'} | {'ok', key id, account id, limit, count, seconds to reset, the second
# key's value or ''}.
AUTH_AND_COUNT = """
local now = tonumber(redis.call('TIME')[1])
local window = tonumber(ARGV[2])
local start = math.floor(now / window) * window
local function admit(entry_key, extra_key)
    local entry = redis.call('GET', entry_key)
    if not entry then return {'miss'} end
    if entry == 'revoked' then return {'revoked'} end
    local key_id, account_id, limit = string.match(entry, '^(%S+) (%S+) (%S+)$')
    if limit == '-' then limit = ARGV[3] end
    local counter = ARGV[1] .. key_id .. ':' .. start
    local count = redis.call('INCR', counter)
    if count == 1 then redis.call('EXPIRE', counter, window + 1) end
    local extra = ''
    if extra_key then extra = redis.call('GET', extra_key) or '' end
    return {'ok', key_id, account_id, tonumber(limit), count, start + window - now, extra}
end
local answers = {}
local k = 1
for i = 4, #ARGV do
    local own = tonumber(ARGV[i])
    local extra_key = nil
    if own > 1 then extra_key = KEYS[k + 1] end
    answers[#answers + 1] = admit(KEYS[k], extra_key)
    k = k + own
end
return answers
"""
AUTH_AND_COUNT_SHA1 = hashlib.sha1(AUTH_AND_COUNT.encode()).hexdigest()  # noqa: S324 - Redis's id


@dataclass(frozen=True)
class KeyRecord:
    """What the database says about an active key."""

    key_id: int
    account_id: str
    rate_limit_per_minute: int | None


def cache_key(key_hash: str) -> str:
    return rkey(KEY_API_KEY_CACHE, key_hash)


def rate_limit_prefix() -> str:
    return rkey(KEY_RATE_LIMIT, "")


def encode(record: KeyRecord) -> str:
    limit = "-" if record.rate_limit_per_minute is None else str(record.rate_limit_per_minute)
    return f"{record.key_id} {record.account_id} {limit}"


def clear_keys(key_hashes: list[str]) -> bool:
    """Drop these keys' entries and tombstones (an account enabled again), so the next request
    reads the database; False (nothing raised) when Redis is unreachable."""
    return delete_keys([cache_key(key_hash) for key_hash in key_hashes])


def forget_keys(key_hashes: list[str]) -> bool:
    """Tombstone revoked keys; False (nothing raised) when Redis is unreachable."""
    if not key_hashes:
        return True
    try:
        pipe = get_redis().pipeline(transaction=False)
        for key_hash in key_hashes:
            pipe.set(cache_key(key_hash), _REVOKED, ex=TOMBSTONE_TTL_S)
        pipe.execute()
    except redis.RedisError:
        return False
    return True
