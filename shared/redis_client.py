"""One Redis client per process, with short timeouts so a dead Redis never stalls a request."""

import asyncio
from functools import cache
from typing import Any

import redis
import redis.asyncio

from shared.settings import get_settings


def _options(timeout_s: float) -> dict[str, Any]:
    """What both clients (sync and asyncio) connect with."""
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "health_check_interval": 30,
        "decode_responses": True,
    }


@cache
def _client(url: str, timeout_s: float) -> "redis.Redis":
    return redis.Redis.from_url(url, **_options(timeout_s))


def get_redis() -> "redis.Redis":
    settings = get_settings()
    return _client(settings.redis_url, settings.redis_socket_timeout_s)


def delete_keys(keys: list[str]) -> bool:
    """Delete these keys (best effort, for cache entries); False when Redis is unreachable."""
    try:
        if keys:
            get_redis().delete(*keys)
    except redis.RedisError:
        return False
    return True


def rkey(*parts: str) -> str:
    """A key under this deployment's prefix, so tests and tenants of one Redis never collide."""
    return get_settings().redis_key_prefix + ":".join(parts)


ASYNC_POOL_CONNECTIONS = 32
_async_clients: dict[int, "redis.asyncio.Redis"] = {}


def get_async_redis() -> "redis.asyncio.Redis":
    """The event loop's own client (an asyncio client must not cross loops): the gateway's hot
    path talks to Redis without a thread hop."""
    loop_id = id(asyncio.get_running_loop())
    client = _async_clients.get(loop_id)
    if client is None:
        settings = get_settings()
        # A burst waits briefly for a pooled connection instead of failing (which would let
        # requests skip the rate limit); 32 connections keep a single Redis thread busy.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=ASYNC_POOL_CONNECTIONS,
            timeout=settings.redis_socket_timeout_s,
            **_options(settings.redis_socket_timeout_s),
        )
        client = redis.asyncio.Redis(connection_pool=pool)
        _async_clients[loop_id] = client
    return client
