"""GET /api/ready says what a load balancer and an operator both need to know; /api/health
keeps its seed-compatible answer beside it."""

from pathlib import Path

import httpx
import pytest

from devtools.processes import wait_for
from tests.conftest import Stack, Workers, running_gateway
from tests.observability.isolated import isolated_stack
from tests.support.environment import environment

pytestmark = pytest.mark.e2e


def ready(url: str) -> httpx.Response:
    return httpx.get(f"{url}/api/ready", timeout=30)


def test_ready_on_a_working_stack(gateway_url: str, workers: Workers) -> None:
    answer = wait_for(
        lambda: (r := ready(gateway_url)).status_code == 200 and r, timeout_s=60, what="ready"
    )
    assert isinstance(answer, httpx.Response)
    body = answer.json()
    assert body["code"] == 0
    data = body["data"]
    assert data["ready"] is True
    assert data["database"] is True
    assert data["redis"] is True
    assert data["problems"] == []
    assert data["lastSweepAt"].endswith("Z")
    assert 0 <= data["sweepAgeSeconds"] < 60
    assert data["backlog"]["waiting"] >= 0
    assert data["upstream"]["windowSeconds"] == 300
    health = httpx.get(f"{gateway_url}/api/health", timeout=30).json()
    assert health["code"] == 0
    assert set(health["data"]) == {"database", "redis", "lastSweepAt", "unknownSubmits"}


def test_not_ready_without_a_sweeper_or_with_a_failing_upstream(
    stack: Stack, tmp_path: Path
) -> None:
    with isolated_stack(stack, tmp_path) as iso, running_gateway(iso, "ready-gateway") as url:
        answer = ready(url)  # no beat, no worker: nothing has ever swept this database
        assert answer.status_code == 503
        assert answer.json()["code"] == 5000
        assert "sweeper has never run" in answer.json()["msg"]
        assert httpx.get(f"{url}/api/health", timeout=30).status_code == 200  # up, not ready

        with environment(iso.env):
            from shared import upstream_health
            from worker.tasks.sweep import record_heartbeat

            record_heartbeat({})
            assert ready(url).status_code == 200

            for _ in range(30):
                upstream_health.count(ok=False)
            for _ in range(10):
                upstream_health.count(ok=True)
            upstream_health.flush()
        answer = ready(url)
        assert answer.status_code == 503
        data = answer.json()["data"]
        assert data["upstream"] == {
            "windowSeconds": 300, "calls": 40, "errors": 30, "errorRate": 0.75
        }  # fmt: skip
        assert data["problems"] == ["75% of the last 40 upstream calls failed"]


def test_not_ready_when_redis_is_down(stack: Stack) -> None:
    dead = {"VEO_REDIS_URL": "redis://127.0.0.1:1/0"}
    with running_gateway(stack, "ready-no-redis", env=dead, healthy=False) as url:
        answer = ready(url)
        assert answer.status_code == 503
        data = answer.json()["data"]
        assert data["redis"] is False
        assert data["database"] is True
        assert "redis not answering" in data["problems"]
