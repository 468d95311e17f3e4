"""Dashboard sessions: a random id in Redis, sent as a signed HttpOnly SameSite=Strict cookie;
one-time login links; CSRF tokens; and the sign-in limit, which is the API's own counter of
refused keys per client address (shared.key_cache), so a guesser gains nothing by switching
between the API and the page.
"""

import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request, Response

from shared import key_cache
from shared.redis_client import get_async_redis, rkey
from shared.settings import get_settings
from shared.storage.signing import UrlSigner

SESSION_COOKIE = "veo_session"
CSRF_COOKIE = "veo_csrf"  # signed-out forms (sign-in): double-submit against this cookie
KEY_SESSION = "dash-session"


@dataclass(frozen=True)
class Session:
    sid: str
    account_id: str
    csrf: str


def _sign(value: str) -> str:
    """HMAC with the deployment's URL-signing key (kept in the storage directory if unset)."""
    settings = get_settings()
    signer = UrlSigner(settings.url_signing_key.get_secret_value(), settings.local_storage_dir, 0)
    return signer.signature(f"dashboard:{value}", 0)


def signed(value: str) -> str:
    return f"{value}.{_sign(value)}"


def unsigned(cookie: str | None) -> str | None:
    """The value of a cookie this gateway signed, else None."""
    value, _, signature = (cookie or "").rpartition(".")
    if not value or not hmac.compare_digest(signature, _sign(value)):
        return None
    return value


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def start_session(request: Request, response: Response, account_id: str) -> None:
    ttl_s = get_settings().dashboard_session_ttl_s
    sid = secrets.token_urlsafe(32)
    await get_async_redis().hset(
        rkey(KEY_SESSION, sid), mapping={"account": account_id, "csrf": secrets.token_urlsafe(24)}
    )
    await get_async_redis().expire(rkey(KEY_SESSION, sid), ttl_s)
    response.set_cookie(
        SESSION_COOKIE,
        signed(sid),
        max_age=ttl_s,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/dashboard",
    )


async def current_session(request: Request) -> Session | None:
    sid = unsigned(request.cookies.get(SESSION_COOKIE))
    if sid is None:
        return None
    found = await get_async_redis().hgetall(rkey(KEY_SESSION, sid))
    if not found:
        return None
    return Session(sid, str(found["account"]), str(found["csrf"]))


async def end_session(response: Response, session: Session | None) -> None:
    if session is not None:
        await get_async_redis().delete(rkey(KEY_SESSION, session.sid))
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")


async def set_flash(session: Session, message: str) -> None:
    """A one-line message for the next page this session sees (after a redirect)."""
    await get_async_redis().hset(rkey(KEY_SESSION, session.sid), "flash", message)


async def pop_flash(session: Session) -> str | None:
    key = rkey(KEY_SESSION, session.sid)
    pipe = get_async_redis().pipeline(transaction=True)
    pipe.hget(key, "flash")
    pipe.hdel(key, "flash")
    value, _ = await pipe.execute()
    return str(value) if value else None


# --- CSRF for signed-out forms -----------------------------------------------------------------


def signed_out_csrf(request: Request) -> str:
    """The token a signed-out form carries: the value of a signed cookie (see remember_csrf)."""
    return unsigned(request.cookies.get(CSRF_COOKIE)) or secrets.token_urlsafe(24)


def remember_csrf(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        signed(token),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/dashboard",
    )


def signed_out_csrf_ok(request: Request, token: str) -> bool:
    expected = unsigned(request.cookies.get(CSRF_COOKIE))
    return expected is not None and hmac.compare_digest(expected, token)


# --- the sign-in limit -------------------------------------------------------------------------


def _failures_key(client: str) -> tuple[str, int]:
    window = key_cache.RATE_WINDOW_S
    start = int(time.time()) // window * window
    return f"{key_cache.auth_failures_prefix()}{client}:{start}", start + window


async def sign_in_blocked(client: str) -> int:
    """Seconds until this address may try again (0: it may), counting the API's refusals too."""
    if not client:
        return 0
    key, reset_at = _failures_key(client)
    failures = int(await get_async_redis().get(key) or 0)
    if failures < get_settings().auth_failures_per_minute:
        return 0
    return max(1, reset_at - int(time.time()))


async def count_failed_sign_in(client: str) -> None:
    if not client:
        return
    key, _ = _failures_key(client)
    pipe = get_async_redis().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, key_cache.RATE_WINDOW_S + 1)
    await pipe.execute()


def tokens_match(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


async def over_write_budget(account_id: str) -> int:
    """Seconds to wait (0: go on) for a signed-in change (a form, an upload): the dashboard's
    own per-account budget of `default_rate_limit_per_minute`, counted as the API counts a
    key's write budget."""
    window = key_cache.RATE_WINDOW_S
    now = int(time.time())
    start = now // window * window
    key = f"{key_cache.rate_limit_prefix()}{key_cache.WRITE}:dashboard-{account_id}:{start}"
    pipe = get_async_redis().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, window + 1)
    count, _ = await pipe.execute()
    if int(count) <= get_settings().default_rate_limit_per_minute:
        return 0
    return max(1, start + window - now)
