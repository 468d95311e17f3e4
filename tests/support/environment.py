"""Which settings this test process runs on: switching to another stack's environment and
forgetting every cache built from the previous one."""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import redis


def forget_upstream() -> None:
    """Close and forget this process's upstream adapter (its connection pool warns if dropped
    unclosed), so the next use builds one from the current settings."""
    from worker import runloop, upstream

    if upstream.get_upstream.cache_info().currsize:
        runloop.run(upstream.get_upstream().aclose())
        upstream.get_upstream.cache_clear()


def reset_caches() -> None:
    """Forget every per-process cache that was built from the previous settings."""
    from shared import celery_app, db, estimates, redis_client, settings, storage, upstream_health

    forget_upstream()  # bound to the last stack's simulator
    settings.get_settings.cache_clear()
    db.forget_engines()
    redis_client._client.cache_clear()
    storage.get_storage.cache_clear()
    celery_app.get_celery.cache_clear()
    estimates.forget_recent()
    upstream_health.forget_pending()  # counted for the last stack's upstream


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """This process sees exactly `env` (and caches built from it) inside; what it saw before
    (and fresh caches) after."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    reset_caches()
    try:
        yield
    finally:
        from shared.db import dispose_engines

        dispose_engines()
        os.environ.clear()
        os.environ.update(saved)
        reset_caches()


def delete_keys(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
