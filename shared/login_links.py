"""One-time dashboard login links (`veo-admin login-link ACCOUNT`): a random token in the URL,
only its hash in Redis, valid once and for `dashboard_login_link_ttl_s`."""

import hashlib
import secrets

from shared.redis_client import get_async_redis, get_redis, rkey
from shared.settings import get_settings

KEY_LOGIN_LINK = "dash-login"
LOGIN_PATH = "/dashboard/login/"


def _link_key(token: str) -> str:
    return rkey(KEY_LOGIN_LINK, hashlib.sha256(token.encode()).hexdigest())


def create_login_link(account_id: str) -> str:
    """A sign-in URL for the account. Raises redis.RedisError when Redis does not answer."""
    settings = get_settings()
    token = secrets.token_urlsafe(32)
    get_redis().set(_link_key(token), account_id, ex=settings.dashboard_login_link_ttl_s)
    return f"{settings.public_base_url}{LOGIN_PATH}{token}"


async def redeem_login_link(token: str) -> str | None:
    """The account a login link was for, consumed; None if unknown, used or expired."""
    value = await get_async_redis().getdel(_link_key(token))
    return str(value) if value else None
