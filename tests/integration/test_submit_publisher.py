"""The gateway tells the dispatcher about new jobs after the answer, batched
(api_gateway/batching/publisher.py): the last jobs' request leaves even when the gateway stops
right after them, and one request covers many jobs."""

import json
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis

from devtools.processes import free_port, wait_for
from shared.constants import QUEUE_POLL, TASK_DISPATCH
from shared.redis_client import get_redis
from tests.chaos.chaos_stack import RedisServer
from tests.conftest import AccountInfo, Stack, running_gateway
from tests.integration.test_gateway_api import SEED_TEXT


def _dispatch_requests(prefix: str) -> int:
    """How many requests to the dispatcher wait under `prefix` (kombu's Redis list)."""
    return _count_dispatch(get_redis().lrange(prefix + QUEUE_POLL, 0, -1))


def _count_dispatch(messages: list[bytes | str]) -> int:
    tasks = [json.loads(raw)["headers"]["task"] for raw in messages]
    assert set(tasks) <= {TASK_DISPATCH}
    return len(tasks)


def test_jobs_accepted_just_before_the_gateway_stops_are_announced(
    stack: Stack, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=200)
    prefix = f"veotest-publisher-{secrets.token_hex(4)}:"  # a queue no test worker consumes
    env = {"VEO_REDIS_KEY_PREFIX": prefix}
    # Leaving the block stops the gateway: SIGTERM right after the last answer.
    with (
        running_gateway(stack, "gateway-publisher", env=env) as url,
        httpx.Client(base_url=url, headers=info.headers, timeout=10) as client,
    ):

        def create(_: int) -> str:
            body = client.post("/api/generate-video", json=SEED_TEXT).json()
            assert body["code"] == 0, body
            return str(body["data"]["uuid"])

        with ThreadPoolExecutor(8) as pool:
            accepted = list(pool.map(create, range(40)))
    try:
        assert 1 <= _dispatch_requests(prefix) < len(accepted)
    finally:
        redis = get_redis()
        redis.delete(*(redis.keys(prefix + "*") or [prefix]))


def test_jobs_accepted_after_redis_restarts_empty_are_announced_at_once(
    stack: Stack, account: Callable[..., AccountInfo], tmp_path: Path
) -> None:
    """The publisher's broker connection outlives a Redis restart: the jobs accepted after it
    are announced on the new server at once, not only at the dispatcher's next tick."""
    info = account(credits=200)
    broker = RedisServer(free_port(), tmp_path)
    broker.start()
    prefix = f"veotest-restart-{secrets.token_hex(4)}:"
    env = {"VEO_REDIS_URL": broker.url, "VEO_REDIS_KEY_PREFIX": prefix}
    queue = redis.Redis.from_url(broker.url)
    try:
        with (
            running_gateway(stack, "gateway-redis-restart", env=env) as url,
            httpx.Client(base_url=url, headers=info.headers, timeout=10) as client,
        ):

            def create() -> str:
                body = client.post("/api/generate-video", json=SEED_TEXT).json()
                assert body["code"] == 0, body
                return str(body["data"]["uuid"])

            def queued() -> int:
                return _count_dispatch(queue.lrange(prefix + QUEUE_POLL, 0, -1))

            create()
            wait_for(lambda: queued() >= 1, timeout_s=10, what="the first job's request")
            broker.restart_empty()
            create()
            wait_for(lambda: queued() >= 1, timeout_s=10, what="a request after the restart")
    finally:
        queue.close()
        broker.kill()
