"""What a route is given besides its input: the authenticated, rate-limited caller and the
process's submit pipeline, as `Annotated` dependencies (`LimitedCaller`, `SubmitPipelineDep`).

Authentication and the per-key rate limit (two budgets: `write` for requests that create or
change something, `read` for GET and HEAD; shared.key_cache) are one Redis round trip, shared
with the requests of the same event-loop turn (api_gateway/batching/admission.py). The key's
hash is looked up in the Redis key cache (shared.key_cache), which also counts the request;
only a cache miss reads the database (and remembers an unknown key as such, briefly). Unknown,
malformed and revoked keys all get the same answer, and each refused key counts against the
client's address: past `auth_failures_per_minute`, it is answered 1003 and its keys are no
longer looked up. A dead Redis never blocks a request: the database answers and the limits
fail open (logged).
"""

import ipaddress
import logging
from dataclasses import dataclass
from typing import Annotated

import redis
from fastapi import Depends, Request
from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette

from api_gateway.batching.admission import get_admission_counter
from api_gateway.batching.pipeline import SubmitPipeline
from api_gateway.db_threads import in_db_thread
from shared import key_cache
from shared.api_keys import touch_last_used
from shared.db import read_session
from shared.errors import AuthenticationFailed, RateLimitExceeded
from shared.keys import hash_api_key
from shared.models import Account, ApiKey
from shared.quotas import WindowResult
from shared.redis_client import get_async_redis
from shared.settings import get_settings

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
            select(
                col(ApiKey.id),
                col(ApiKey.account_id),
                col(Account.rate_limit_per_minute),
                col(Account.read_rate_limit_per_minute),
            )
            .join(Account, col(Account.id) == col(ApiKey.account_id))
            .where(
                col(ApiKey.key_hash) == key_hash,
                col(ApiKey.revoked_at).is_(None),
                col(Account.disabled_at).is_(None),  # a disabled account's keys: as unknown ones
            )
        ).first()
    return None if row is None else key_cache.KeyRecord(row[0], row[1], row[2], row[3])


def _lookup_and_touch(key_hash: str) -> key_cache.KeyRecord | None:
    """A cache miss: the key's record, and its `last_used_at` stamped (about once a minute)."""
    record = _lookup(key_hash)
    if record is not None:
        touch_last_used(record.key_id)
    return record


async def _from_database(key_hash: str) -> key_cache.KeyRecord:
    record = await in_db_thread(_lookup, key_hash)
    if record is None:
        raise AuthenticationFailed(INVALID_KEY)
    return record


def client_address(request: Request) -> str:
    """What a client's refused keys count against: its address (uvicorn has already applied
    trusted proxies' X-Forwarded-For), an IPv6 client's /64; '' when that limit is off."""
    if get_settings().auth_failures_per_minute <= 0:
        return ""
    host = request.client.host if request.client else "-"
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    if address.ipv4_mapped:  # an IPv4 client of a dual-stack socket
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))  # one host holds a /64


def _too_many_refusals(reset_s: int) -> RateLimitExceeded:
    return RateLimitExceeded(
        f"Too many refused API keys from this address; retry in {reset_s} s",
        {"retryAfter": reset_s},
        headers={"Retry-After": str(reset_s)},
    )


async def authenticate(request: Request, fetch: str | None = None) -> Admission:
    """The caller, its rate-limit window, and the value of the Redis key `fetch` if given."""
    key_hash = hash_api_key(bearer_token(request))
    client = client_address(request)
    budget = key_cache.budget_for(request.method)
    counter = get_admission_counter()
    try:
        answer = await counter.count(key_hash, fetch, client, budget)
        if answer[0] == "miss":
            record = await in_db_thread(_lookup_and_touch, key_hash)
            ttl_s = get_settings().auth_unknown_key_ttl_s
            await key_cache.fill(get_async_redis(), key_hash, record, unknown_ttl_s=ttl_s)
            answer = await counter.count(key_hash, fetch, client, budget)  # counts a refusal
    except redis.RedisError as error:
        log.warning("API key cache and rate limiter unavailable (%r)", error)
        record = await _from_database(key_hash)
        return Admission(Caller(record.account_id, record.key_id), None, None)
    if answer[0] == "blocked":
        raise _too_many_refusals(max(1, int(str(answer[1]))))
    if answer[0] != "ok":
        raise AuthenticationFailed(INVALID_KEY)
    _, key_id, account_id, limit, count, reset_s, fetched = answer
    caller = Caller(str(account_id), int(str(key_id)))
    limit, count = int(str(limit)), int(str(count))
    window = WindowResult(count <= limit, limit, max(0, limit - count), max(1, int(str(reset_s))))
    return Admission(caller, window, str(fetched) or None)


async def admit(request: Request, fetch: str | None = None) -> Admission:
    """Authenticate and count this request against its budget (and read the Redis key `fetch`
    on the way). Call it once per request: a request that then waits (Prefer: wait, an event
    stream) has counted once, however long it waits. Its rate-limit headers go on whatever
    answer leaves (api_gateway.asgi.RateLimitHeaders)."""
    admission = await authenticate(request, fetch)
    window = admission.window
    if window is None:
        return admission
    headers = {
        "X-RateLimit-Limit": str(window.limit),
        "X-RateLimit-Remaining": str(window.remaining),
        "X-RateLimit-Reset": str(window.reset_s),
    }
    request.state.rate_limit_headers = headers
    if not window.allowed:
        kind = "read" if key_cache.budget_for(request.method) == key_cache.READ else "write"
        raise RateLimitExceeded(
            f"Rate limit exceeded: {window.limit} {kind} requests per minute;"
            f" retry in {window.reset_s} s",
            {"limit": window.limit, "budget": kind, "retryAfter": window.reset_s},
            headers={**headers, "Retry-After": str(window.reset_s)},
        )
    return admission


async def rate_limited(request: Request) -> Caller:
    """The caller its route class admitted (api_gateway.routing.AuthenticatedRoute), else now."""
    admission: Admission | None = getattr(request.state, "admission", None)
    if admission is None:
        admission = await admit(request)
    return admission.caller


LimitedCaller = Annotated[Caller, Depends(rate_limited)]


def submit_pipeline(app: Starlette) -> SubmitPipeline:
    """The process's submit pipeline, which api_gateway.app.lifespan builds and stores."""
    pipeline: SubmitPipeline = app.state.submit_pipeline
    return pipeline


async def _request_submit_pipeline(request: Request) -> SubmitPipeline:
    return submit_pipeline(request.app)


SubmitPipelineDep = Annotated[SubmitPipeline, Depends(_request_submit_pipeline)]
