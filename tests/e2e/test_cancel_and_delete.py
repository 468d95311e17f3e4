"""Cancel and delete against the running pipeline: real workers, the simulator, a receiver."""

import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from devtools.processes import wait_for
from shared.job_options import default_credits
from shared.settings import get_settings
from tests.conftest import AccountInfo, Workers
from tests.e2e.test_webhooks import secret_of, verified, wait_received
from tests.support.api import create_video, status, wait_terminal
from tests.support.jobs import balance
from tests.support.receiver import Receiver

pytestmark = pytest.mark.e2e


def _data(response: httpx.Response) -> Any:
    body = response.json()
    assert body["code"] == 0, body
    return body["data"]


def test_a_processing_video_is_cancelled_without_a_refund_and_its_receiver_told(
    client: httpx.Client,
    account: Callable[..., AccountInfo],
    workers: Workers,
    receiver: Receiver,
) -> None:
    info = account(credits=10)
    price = default_credits(get_settings())
    where = f"cancel-{secrets.token_hex(4)}"
    uuid = create_video(
        client, info.headers, f"a slow one {where} [sim latency=30]", webhookUrl=receiver.url(where)
    )
    wait_for(
        lambda: status(client, info.headers, uuid)["status"] == "processing",
        timeout_s=30,
        what="the upstream to accept it",
    )

    cancelled = _data(client.post(f"/api/videos/{uuid}/cancel", headers=info.headers))

    assert (cancelled["status"], cancelled["videoUrl"]) == ("cancelled", None)
    assert cancelled["startedAt"] is not None
    (delivery,) = wait_received(receiver, where)
    event = verified(secret_of(info.account_id), delivery)
    assert (event["type"], event["data"]["uuid"]) == ("video.cancelled", uuid)
    assert event["data"]["status"] == "cancelled"
    assert balance(info.account_id) == 10 - price
    shown = _data(client.get("/api/account", headers=info.headers))
    assert (shown["credits"], shown["usage"]["creditsSpent"]) == (10 - price, price)
    listed = _data(client.get("/api/videos?status=cancelled", headers=info.headers))["items"]
    assert [item["uuid"] for item in listed] == [uuid]


def test_a_completed_video_is_listed_then_deleted_with_its_file(
    client: httpx.Client, account: Callable[..., AccountInfo], workers: Workers
) -> None:
    info = account(credits=10)
    uuid = create_video(client, info.headers, "one to delete")
    done = wait_terminal(client, info.headers, uuid)
    assert done["status"] == "completed"
    assert done["startedAt"] <= done["completedAt"]
    (item,) = _data(client.get("/api/videos", headers=info.headers))["items"]
    assert (item["uuid"], item["status"], item["prompt"]) == (uuid, "completed", "one to delete")
    assert client.get(done["videoUrl"]).status_code == 200

    assert _data(client.delete(f"/api/videos/{uuid}", headers=info.headers))["deleted"] is True

    assert client.get(done["videoUrl"]).status_code == 404
    gone = client.get(f"/api/video-status/{uuid}", headers=info.headers)
    assert (gone.status_code, gone.json()["code"]) == (404, 1000)
    assert _data(client.get("/api/videos", headers=info.headers))["items"] == []
    ledger = _data(client.get("/api/account/ledger", headers=info.headers))["items"]
    assert [(entry["kind"], entry["jobId"]) for entry in ledger] == [
        ("debit", uuid),
        ("grant", None),
    ]
