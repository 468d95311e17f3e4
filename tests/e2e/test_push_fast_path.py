"""The fast path end to end: the simulator pushes each operation's end the way a Pub/Sub push
subscription would, the gateway verifies the token and makes that job due at once, and the job
completes long before the poll its schedule had planned; a forged push changes nothing."""

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from admin.cli import create_account_with_key
from devtools.processes import Proc, free_port, http_ok
from shared.db import read_session
from shared.models import Job
from simulator.control import control_headers
from simulator.push import PUSH_SERVICE_ACCOUNT, Signer
from tests.conftest import Stack, Workers, start_gateway
from tests.support.api import create_video, wait_terminal
from tests.support.environment import environment

FIRST_POLL_S = 40.0  # the schedule's first look: far beyond the simulated latency


@dataclass
class PushStack:
    env: dict[str, str]
    gateway_url: str
    simulator_url: str
    headers: dict[str, str]  # the test account's
    push_url: str


@pytest.fixture(scope="module")
def push_stack(quiet: Stack) -> Iterator[PushStack]:
    """A stack of its own (database, key prefix, ports) with push on and sparse polls."""
    gateway_port, simulator_port = free_port(), free_port()
    simulator_url = f"http://127.0.0.1:{simulator_port}"
    push_url = f"http://127.0.0.1:{gateway_port}/api/upstream/notifications"
    env = {
        **quiet.env,
        "VEO_GATEWAY_PORT": str(gateway_port),
        "VEO_SIMULATOR_PORT": str(simulator_port),
        "VEO_POLL_SCHEDULE": "geometric",
        "VEO_POLL_FIRST_DELAY_S": str(FIRST_POLL_S),
        "VEO_POLL_MAX_INTERVAL_S": str(FIRST_POLL_S),
        "VEO_JOB_DEADLINE_S": "600",
        "VEO_PUBSUB_TOPIC": "projects/simulator-project/topics/veo-operations",
        "VEO_PUSH_NOTIFICATIONS": "true",
        "VEO_PUSH_CERTS_URL": f"{simulator_url}/_sim/oauth2/v1/certs",
        "VEO_PUSH_SERVICE_ACCOUNT": PUSH_SERVICE_ACCOUNT,
        "VEO_PUSH_AUDIENCE": push_url,
        "VEO_SIMULATOR_PUSH_URL": push_url,
    }
    stack = Stack(env, quiet.data_dir, quiet.log_dir, quiet.database_url, quiet.redis_url)
    simulator = Proc("push-simulator", [sys.executable, "-m", "simulator"], env, quiet.log_dir)
    simulator.start().wait_ready(lambda: http_ok(f"{simulator_url}/_sim/health"), timeout_s=30)
    pool = Workers(stack, tag="push-")
    pool.start_worker()
    pool.start_beat()
    gateway, gateway_url = start_gateway(stack, "push-gateway", gateway_port)
    try:
        with environment(env):
            _, key = create_account_with_key(100)
        yield PushStack(
            env, gateway_url, simulator_url, {"Authorization": f"Bearer {key}"}, push_url
        )
    finally:
        gateway.stop()
        pool.stop_all()
        simulator.stop()


def job_row(env: dict[str, str], uuid: str) -> Job:
    with environment(env), read_session() as session:
        job = session.get(Job, uuid)
        assert job is not None
        return job


def utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_a_push_completes_the_job_before_its_first_scheduled_poll(push_stack: PushStack) -> None:
    with httpx.Client(base_url=push_stack.gateway_url, timeout=30) as client:
        uuid = create_video(client, push_stack.headers, "a heron [sim latency=2]")
        done = wait_terminal(client, push_stack.headers, uuid, timeout_s=FIRST_POLL_S / 2)
    assert done["status"] == "completed"
    job = job_row(push_stack.env, uuid)
    assert job.processing_at is not None
    assert job.completed_at is not None
    # Not one poll was rescheduled: the only look was the one the push asked for, made long
    # before the first look the schedule had planned.
    assert job.poll_count == 0
    planned = utc(job.processing_at) + timedelta(seconds=FIRST_POLL_S)
    assert utc(job.completed_at) < planned - timedelta(seconds=FIRST_POLL_S / 2)
    op = httpx.get(
        f"{push_stack.simulator_url}/_sim/operations/{job.upstream_operation}",
        headers=control_headers(push_stack.env["VEO_SIMULATOR_CONTROL_TOKEN"]),
    ).json()
    assert op["pushed_at"] is not None
    assert op["polls"] == 1
    assert op["request"]["body"]["parameters"]["pubsubTopic"] == push_stack.env["VEO_PUBSUB_TOPIC"]


def test_a_forged_push_is_refused_and_moves_nothing(push_stack: PushStack) -> None:
    with httpx.Client(base_url=push_stack.gateway_url, timeout=30) as client:
        uuid = create_video(client, push_stack.headers, "a slow heron [sim latency=300]")

        def submitted() -> Job | None:
            row = job_row(push_stack.env, uuid)
            return row if row.upstream_operation else None

        deadline = time.monotonic() + 20
        job = submitted()
        while job is None and time.monotonic() < deadline:
            time.sleep(0.1)
            job = submitted()
        assert job is not None
        forger = Signer()  # a well-formed token, signed by a key that is not the upstream's
        token = forger.token(push_stack.push_url, email=PUSH_SERVICE_ACCOUNT)
        envelope = {
            "message": {"attributes": {"operationName": job.upstream_operation}, "messageId": "1"},
            "subscription": "projects/simulator-project/subscriptions/veo-push",
        }
        answer = client.post(
            "/api/upstream/notifications",
            json=envelope,
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.json()["code"] == 1002
    after = job_row(push_stack.env, uuid)
    assert after.status == "processing"
    assert after.next_poll_at == job.next_poll_at
