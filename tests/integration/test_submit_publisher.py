"""Submit messages leave the gateway in batches after the answer (api_gateway/publisher.py):
none may be left behind when the gateway stops."""

import base64
import json
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from shared.constants import QUEUE_SUBMIT
from shared.redis_client import get_redis
from tests.conftest import AccountInfo, Stack, start_gateway
from tests.integration.test_gateway_api import SEED_TEXT
from tests.support.processes import free_port


def _queued_job_ids(prefix: str) -> list[str]:
    """The job ids of the submit messages waiting under `prefix` (kombu's Redis list)."""
    ids = []
    for raw in get_redis().lrange(prefix + QUEUE_SUBMIT, 0, -1):
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        ids += body[0]  # protocol 2: [args, kwargs, embed]; the args are job ids
    return ids


def test_jobs_accepted_just_before_the_gateway_stops_are_all_sent(
    stack: Stack, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=200)
    prefix = f"veotest-publisher-{secrets.token_hex(4)}:"  # a queue no test worker consumes
    proc, url = start_gateway(
        stack, "gateway-publisher", free_port(), env={"VEO_REDIS_KEY_PREFIX": prefix}
    )
    try:
        with httpx.Client(base_url=url, headers=info.headers, timeout=10) as client:

            def create(_: int) -> str:
                body = client.post("/api/generate-video", json=SEED_TEXT).json()
                assert body["code"] == 0, body
                return str(body["data"]["uuid"])

            with ThreadPoolExecutor(8) as pool:
                accepted = list(pool.map(create, range(40)))
    finally:
        proc.stop()  # SIGTERM right after the last answer
    try:
        assert sorted(_queued_job_ids(prefix)) == sorted(accepted)
    finally:
        redis = get_redis()
        redis.delete(*(redis.keys(prefix + "*") or [prefix]))
