"""Flower shows the jobs' tasks, findable by the job's uuid, and not the ticks beat sends
several times a second (nor, therefore, the nameless entries their expired copies made)."""

import base64
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.processes import Proc, free_port, http_ok, wait_for
from tests.conftest import AccountInfo, Stack, Workers
from tests.support.api import create_video, wait_terminal

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def flower(stack: Stack, workers: Workers) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    env = {**stack.env, "VEO_FLOWER_PORT": str(port), "VEO_FLOWER_PASSWORD": ""}
    proc = Proc("flower-tasks", [sys.executable, "-m", "worker.flower"], env, stack.log_dir)
    proc.start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(f"{url}/healthcheck"), timeout_s=40)
    password = (Path(stack.env["VEO_DATA_DIR"]) / "flower-password").read_text().strip()
    auth = {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}
    yield url, auth
    proc.stop()


def tasks(url: str, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    answer = httpx.get(f"{url}/api/tasks", headers=auth, timeout=10)
    assert answer.status_code == 200
    result: dict[str, dict[str, Any]] = answer.json()
    return result


def test_a_jobs_tasks_are_found_by_its_uuid_and_ticks_stay_out(
    flower: tuple[str, dict[str, str]], client: httpx.Client,
    account: Callable[..., AccountInfo], stack: Stack,
) -> None:  # fmt: skip
    url, auth = flower
    user = account(credits=10)
    uuid = create_video(client, user.headers, f"flower {secrets.token_hex(4)}")
    assert wait_terminal(client, user.headers, uuid)["status"] == "completed"

    def submit_seen() -> list[dict[str, Any]]:
        return [
            t for t in tasks(url, auth).values()
            if t.get("name") == "veo.submit_job" and uuid in str(t.get("args"))
        ]  # fmt: skip

    found = wait_for(submit_seen, timeout_s=30, what="the job's submit task in Flower")
    assert isinstance(found, list)
    assert found[0]["state"] == "SUCCESS"
    seen = tasks(url, auth).values()
    names = {t.get("name") for t in seen}
    assert not names & {"veo.poll_due", "veo.dispatch", "veo.sweep"}, names
    assert None not in names  # no nameless task
