"""One Redis client per process, with short timeouts so a dead Redis never stalls a request."""

from functools import cache

import redis

from shared.settings import get_settings


@cache
def _client(url: str, timeout_s: float) -> "redis.Redis":
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
        decode_responses=True,
    )


def get_redis() -> "redis.Redis":
    settings = get_settings()
    return _client(settings.redis_url, settings.redis_socket_timeout_s)


def rkey(*parts: str) -> str:
    """A key under this deployment's prefix, so tests and tenants of one Redis never collide."""
    return get_settings().redis_key_prefix + ":".join(parts)
