"""Submit messages leave the gateway in batches after the answer
(api_gateway/batching/publisher.py): none may be left behind when the gateway stops."""

import base64
import json
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis

from devtools.processes import free_port, wait_for
from shared.constants import QUEUE_SUBMIT
from shared.redis_client import get_redis
from tests.chaos.harness import RedisServer
from tests.conftest import AccountInfo, Stack, running_gateway
from tests.integration.test_gateway_api import SEED_TEXT


def _queued_job_ids(prefix: str) -> list[str]:
    """The job ids of the submit messages waiting under `prefix` (kombu's Redis list)."""
    return _job_ids(get_redis().lrange(prefix + QUEUE_SUBMIT, 0, -1))


def _job_ids(messages: list[bytes | str]) -> list[str]:
    ids = []
    for raw in messages:
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        ids += body[0]  # protocol 2: [args, kwargs, embed]; the args are job ids
    return ids


def test_jobs_accepted_just_before_the_gateway_stops_are_all_sent(
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
        assert sorted(_queued_job_ids(prefix)) == sorted(accepted)
    finally:
        redis = get_redis()
        redis.delete(*(redis.keys(prefix + "*") or [prefix]))


def test_jobs_accepted_after_redis_restarts_empty_are_sent_at_once(
    stack: Stack, account: Callable[..., AccountInfo], tmp_path: Path
) -> None:
    """The publisher's broker connection outlives a Redis restart: the jobs accepted after it
    are queued on the new server by the gateway itself, not later by the sweeper."""
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

            def queued() -> list[str]:
                return _job_ids(queue.lrange(prefix + QUEUE_SUBMIT, 0, -1))

            before = create()
            wait_for(lambda: before in queued(), timeout_s=10, what="the first job's message")
            broker.restart_empty()
            after = [create() for _ in range(3)]
            wait_for(
                lambda: after[-1] in queued(), timeout_s=10, what="a message after the restart"
            )
    finally:
        queue.close()
        broker.kill()
