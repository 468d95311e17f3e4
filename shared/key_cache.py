"""API keys cached in Redis, so a request authenticates and counts its rate limit in one round trip.

An entry holds what the database said about a key hash ("<key id> <account id> <write limit>
<read limit>", each limit a number or "-" for the configured default) for CACHE_TTL_S. Each
key has two per-minute budgets: `write` (requests that create or change something: POST,
DELETE, ...) and `read` (GET and HEAD), so polling never eats into the budget for submits.

Revoking writes a tombstone that a racing fill (SET NX) cannot overwrite, so a revoked key
is refused at once wherever Redis is reachable; if it is not, the gateway asks the database
instead, and a stale entry outlives the revocation by CACHE_TTL_S at most.

A key the database does not know is remembered as unknown for `auth_unknown_key_ttl_s`, so a
client repeating it costs no database read. A key created later cannot have been remembered so:
keys are 256 random bits, nobody sends one before it exists. Every refused key (revoked or
unknown) counts against its client's address; past `auth_failures_per_minute`, that address is
answered 1003 for the rest of the minute, and its cache misses no longer reach the database.
"""

import hashlib
from dataclasses import dataclass

import redis
import redis.asyncio

from shared.constants import KEY_API_KEY_CACHE, KEY_AUTH_FAILURES, KEY_RATE_LIMIT
from shared.redis_client import delete_keys, get_redis, rkey
from shared.settings import get_settings

CACHE_TTL_S = 60
TOMBSTONE_TTL_S = 3600  # far longer than any fill that read the database before the revocation
RATE_WINDOW_S = 60
WRITE, READ = "w", "r"  # the two budgets, as the script names them
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # all else creates or changes something
_REVOKED = "revoked"
_UNKNOWN = "unknown"

# Every request of one event-loop turn in one call. ARGV: rate-limit key prefix, window (s),
# default write limit, failed-authentication key prefix, failures allowed per window, default
# read limit, then per request how many KEYS are its own (1 or 2), its client's address (''
# counts nothing) and its budget ('w' or 'r'): its cache entry, and optionally a key to read in
# the same trip (a job's status). Returns, per request in order, {'miss'} | {'revoked'} |
# {'unknown'} | {'blocked', seconds to reset} | {'ok', key id, account id, limit, count,
# seconds to reset, the second key's value or ''}. A refused key counts against its client; a
# miss only reads that count ('blocked': do not ask the database). An entry of the older
# three-field form ("<key id> <account id> <limit>") reads with the default read limit.
AUTH_AND_COUNT = """
local now = tonumber(redis.call('TIME')[1])
local window = tonumber(ARGV[2])
local start = math.floor(now / window) * window
local function refused(answer, client, counts)
    if client == '' then return {answer} end
    local counter = ARGV[4] .. client .. ':' .. start
    local failures
    if counts then
        failures = redis.call('INCR', counter)
        if failures == 1 then redis.call('EXPIRE', counter, window + 1) end
    else
        failures = tonumber(redis.call('GET', counter) or '0') + 1
    end
    if failures > tonumber(ARGV[5]) then return {'blocked', start + window - now} end
    return {answer}
end
local function admit(entry_key, extra_key, client, budget)
    local entry = redis.call('GET', entry_key)
    if not entry then return refused('miss', client, false) end
    if entry == 'revoked' or entry == 'unknown' then return refused(entry, client, true) end
    local key_id, account_id, write, read = string.match(entry, '^(%S+) (%S+) (%S+) ?(%S*)$')
    local limit = write
    local default = ARGV[3]
    if budget == 'r' then limit, default = read, ARGV[6] end
    if limit == '-' or limit == '' then limit = default end
    local counter = ARGV[1] .. budget .. ':' .. key_id .. ':' .. start
    local count = redis.call('INCR', counter)
    if count == 1 then redis.call('EXPIRE', counter, window + 1) end
    local extra = ''
    if extra_key then extra = redis.call('GET', extra_key) or '' end
    return {'ok', key_id, account_id, tonumber(limit), count, start + window - now, extra}
end
local answers = {}
local k = 1
for i = 7, #ARGV, 3 do
    local own = tonumber(ARGV[i])
    local extra_key = nil
    if own > 1 then extra_key = KEYS[k + 1] end
    answers[#answers + 1] = admit(KEYS[k], extra_key, ARGV[i + 1], ARGV[i + 2])
    k = k + own
end
return answers
"""
AUTH_AND_COUNT_SHA1 = hashlib.sha1(AUTH_AND_COUNT.encode()).hexdigest()  # noqa: S324 - Redis's id


# What is left of a key's two budgets, counting nothing (GET /api/account). KEYS[1]: its cache
# entry. ARGV: rate-limit key prefix, window (s), default write limit, default read limit.
# Returns {} for a key not cached as valid, else {write limit, write count, read limit, read
# count, seconds to reset}.
PEEK_BUDGETS = """
local entry = redis.call('GET', KEYS[1])
if not entry or entry == 'revoked' or entry == 'unknown' then return {} end
local key_id, _, write, read = string.match(entry, '^(%S+) (%S+) (%S+) ?(%S*)$')
if write == '-' or write == '' then write = ARGV[3] end
if read == '-' or read == '' then read = ARGV[4] end
local now = tonumber(redis.call('TIME')[1])
local window = tonumber(ARGV[2])
local start = math.floor(now / window) * window
local function used(budget)
    return tonumber(redis.call('GET', ARGV[1] .. budget .. ':' .. key_id .. ':' .. start) or '0')
end
return {tonumber(write), used('w'), tonumber(read), used('r'), start + window - now}
"""


@dataclass(frozen=True)
class Budget:
    """One budget as GET /api/account shows it."""

    limit: int
    remaining: int
    reset_s: int


async def peek_budgets(client: "redis.asyncio.Redis", key_hash: str) -> dict[str, Budget]:
    """{'write': Budget, 'read': Budget} of a cached key, counting nothing; {} if the key is not
    cached (or not valid). Raises redis.RedisError when Redis does not answer."""
    settings = get_settings()
    answer = await client.eval(
        PEEK_BUDGETS,
        1,
        cache_key(key_hash),
        rate_limit_prefix(),
        RATE_WINDOW_S,
        settings.default_rate_limit_per_minute,
        settings.default_read_rate_limit_per_minute,
    )
    if not answer:
        return {}
    write, written, read, reads, reset_s = (int(value) for value in answer)
    return {
        "write": Budget(write, max(0, write - written), max(1, reset_s)),
        "read": Budget(read, max(0, read - reads), max(1, reset_s)),
    }


@dataclass(frozen=True)
class KeyRecord:
    """What the database says about an active key."""

    key_id: int
    account_id: str
    rate_limit_per_minute: int | None  # the write budget; None: the configured default
    read_rate_limit_per_minute: int | None = None  # the read budget; None: the default


def budget_for(method: str) -> str:
    """The budget a request of this HTTP method counts against."""
    return READ if method in READ_METHODS else WRITE


def cache_key(key_hash: str) -> str:
    return rkey(KEY_API_KEY_CACHE, key_hash)


def rate_limit_prefix() -> str:
    return rkey(KEY_RATE_LIMIT, "")


def auth_failures_prefix() -> str:
    return rkey(KEY_AUTH_FAILURES, "")


def _limit(value: int | None) -> str:
    return "-" if value is None else str(value)


def encode(record: KeyRecord) -> str:
    write, read = _limit(record.rate_limit_per_minute), _limit(record.read_rate_limit_per_minute)
    return f"{record.key_id} {record.account_id} {write} {read}"


async def fill(
    client: "redis.asyncio.Redis", key_hash: str, record: KeyRecord | None, *, unknown_ttl_s: int
) -> None:
    """Cache what the database said about a key: its record, or that it is unknown (briefly).
    NX: a tombstone or another fill written meanwhile is kept."""
    if record is None:
        await client.set(cache_key(key_hash), _UNKNOWN, ex=unknown_ttl_s, nx=True)
    else:
        await client.set(cache_key(key_hash), encode(record), ex=CACHE_TTL_S, nx=True)


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
