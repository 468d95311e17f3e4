"""Bearer API-key authentication and the per-key rate limit, in one Redis round trip (shared
with concurrent requests: api_gateway/admission.py).

The key's hash is looked up in the Redis key cache (shared.key_cache), which also counts the
request; only a cache miss reads the database. Unknown, malformed and revoked keys all get the
same answer. A dead Redis never blocks a request: the database answers and the limit fails open.
"""

import logging
from dataclasses import dataclass

import redis
from fastapi import Request
from sqlalchemy import select
from sqlmodel import col

from api_gateway.admission import get_admission_counter
from api_gateway.db_threads import in_db_thread
from shared import key_cache
from shared.db import read_session
from shared.errors import AuthenticationFailed
from shared.keys import hash_api_key
from shared.models import Account, ApiKey
from shared.quotas import WindowResult
from shared.redis_client import get_async_redis

log = logging.getLogger(__name__)
INVALID_KEY = "Authentication failed: invalid or revoked API key"


@dataclass(frozen=True)
class Caller:
    account_id: str
    key_id: int


@dataclass(frozen=True)
class Admission:
    caller: Caller
    window: WindowResult | None  # this request's place in its rate-limit window; None: Redis down
    fetched: str | None  # the key a route asked for, read in the same round trip (None: absent)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("Authentication failed: send 'Authorization: Bearer <API key>'")
    return token.strip()


def _lookup(key_hash: str) -> key_cache.KeyRecord | None:
    with read_session() as session:
        row = session.execute(
            select(col(ApiKey.id), col(ApiKey.account_id), col(Account.rate_limit_per_minute))
            .join(Account, col(Account.id) == col(ApiKey.account_id))
            .where(col(ApiKey.key_hash) == key_hash, col(ApiKey.revoked_at).is_(None))
        ).first()
    return None if row is None else key_cache.KeyRecord(row[0], row[1], row[2])


async def _from_database(key_hash: str) -> key_cache.KeyRecord:
    record = await in_db_thread(_lookup, key_hash)
    if record is None:
        raise AuthenticationFailed(INVALID_KEY)
    return record


async def authenticate(request: Request, fetch: str | None = None) -> Admission:
    """The caller, its rate-limit window, and the value of the Redis key `fetch` if given."""
    key_hash = hash_api_key(bearer_token(request))
    counter = get_admission_counter()
    try:
        answer = await counter.count(key_hash, fetch)
        if answer[0] == "miss":
            record = await _from_database(key_hash)
            entry, ttl_s = key_cache.encode(record), key_cache.CACHE_TTL_S
            await get_async_redis().set(key_cache.cache_key(key_hash), entry, ex=ttl_s, nx=True)
            answer = await counter.count(key_hash, fetch)
    except redis.RedisError as error:
        log.warning("API key cache and rate limiter unavailable (%r)", error)
        record = await _from_database(key_hash)
        return Admission(Caller(record.account_id, record.key_id), None, None)
    if answer[0] != "ok":
        raise AuthenticationFailed(INVALID_KEY)
    _, key_id, account_id, limit, count, reset_s, fetched = answer
    caller = Caller(str(account_id), int(str(key_id)))
    limit, count = int(str(limit)), int(str(count))
    window = WindowResult(count <= limit, limit, max(0, limit - count), max(1, int(str(reset_s))))
    return Admission(caller, window, str(fetched) or None)
