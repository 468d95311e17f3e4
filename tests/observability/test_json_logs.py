"""VEO_LOG_FORMAT=json: every process writes one JSON object per line, and one job's uuid leads
from the gateway's line through the worker's to its webhook delivery's."""

import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from admin.cli import create_account_with_key
from devtools.processes import Proc, wait_for
from tests.conftest import Stack, Workers, running_gateway
from tests.observability.isolated import isolated_stack
from tests.support.api import create_video, wait_terminal
from tests.support.environment import environment
from tests.support.receiver import Receiver

pytestmark = pytest.mark.e2e


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a log, each of which must be one JSON object."""
    entries = []
    for line in path.read_text().splitlines():
        if line.strip():
            entry = json.loads(line)  # a line that is not JSON fails the test here
            assert isinstance(entry, dict)
            entries.append(entry)
    return entries


def about(entries: list[dict[str, Any]], uuid: str) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("job_id") == uuid]


def test_one_job_followed_by_uuid_across_processes(
    stack: Stack, simulator_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    with isolated_stack(stack, tmp_path, VEO_LOG_FORMAT="json") as iso:
        with environment(iso.env):
            account, key = create_account_with_key(10, webhook_url=receiver.url("json-logs"))
        pool = Workers(iso, tag=f"json{secrets.token_hex(2)}-")
        worker: Proc = pool.start_worker()
        webhooks: Proc = pool.start_webhook_worker()
        beat: Proc = pool.start_beat()
        try:
            with (
                running_gateway(iso, f"json-gateway-{secrets.token_hex(2)}") as url,
                httpx.Client(base_url=url, timeout=30) as client,
            ):
                headers = {"Authorization": f"Bearer {key}"}
                uuid = create_video(client, headers, "a lighthouse in fog, logged as JSON")
                assert wait_terminal(client, headers, uuid, timeout_s=90)["status"] == "completed"
                wait_for(lambda: receiver.at("json-logs"), timeout_s=60, what="the webhook")
                wait_for(
                    lambda: any(
                        "webhook" in e["msg"] for e in about(json_lines(webhooks.log_path), uuid)
                    ),
                    timeout_s=30,
                    what="the webhook worker's line about the job",
                )
        finally:
            pool.stop_all()

        gateway_lines = [e for p in iso.log_dir.glob("json-gateway-*.log") for e in json_lines(p)]
        created = about(gateway_lines, uuid)
        assert created
        assert created[0]["account_id"] == account.id
        assert created[0]["process"] == "gateway"
        assert key not in json.dumps(gateway_lines)  # the API key never appears

        worker_lines = about(json_lines(worker.log_path), uuid)
        assert {e["process"] for e in worker_lines} == {"worker"}
        assert any(
            e.get("task_name") == "veo.submit_job" and e.get("task_id") for e in worker_lines
        )
        assert any(e["msg"] == f"job {uuid} is completed" for e in worker_lines)
        assert all(e["account_id"] == account.id for e in worker_lines if "account_id" in e)

        delivered = [e for e in about(json_lines(webhooks.log_path), uuid) if "webhook" in e["msg"]]
        assert delivered
        assert delivered[0]["account_id"] == account.id
        assert "delivered" in delivered[0]["msg"]
        assert delivered[0].get("task_name") == "veo.deliver_webhook"

        assert json_lines(beat.log_path)  # beat's banner and lines: JSON too
