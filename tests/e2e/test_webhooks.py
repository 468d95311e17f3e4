"""Outbound webhooks end to end: a real receiver on loopback, real workers, the simulator."""

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from typer.testing import CliRunner

from admin.cli import app as admin_cli
from devtools.processes import free_port, wait_for
from shared.db import read_session
from shared.models import Account
from tests.conftest import AccountInfo, Workers
from tests.support.api import create_video, wait_terminal
from tests.support.receiver import Received, Receiver, start_receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def user(account: Callable[..., AccountInfo], workers: Workers) -> AccountInfo:
    return account(credits=100)


def path() -> str:
    return f"hook-{secrets.token_hex(4)}"


def secret_of(account_id: str) -> str:
    with read_session() as session:
        return session.get(Account, account_id).webhook_secret  # type: ignore[union-attr]


def wait_received(
    receiver: Receiver, where: str, count: int = 1, timeout_s: float = 60
) -> list[Received]:
    result = wait_for(
        lambda: len(got := receiver.at(where)) >= count and got,
        timeout_s=timeout_s,
        what=f"{count} at {where}",
    )
    assert isinstance(result, list)
    return result


def verified(secret: str, received: Received) -> dict[str, Any]:
    payload = Webhook(secret).verify(received.body, received.headers)
    assert isinstance(payload, dict)
    return payload


def test_completed_job_delivers_one_signed_event_with_the_status_data(
    client: httpx.Client, user: AccountInfo, receiver: Receiver
) -> None:
    where = path()
    uuid = create_video(client, user.headers, f"hooked {where}", webhookUrl=receiver.url(where))
    final = wait_terminal(client, user.headers, uuid)
    (delivery,) = wait_received(receiver, where)
    event = verified(secret_of(user.account_id), delivery)
    assert event["type"] == "video.completed"
    assert event["data"]["uuid"] == uuid
    assert event["data"]["status"] == "completed"
    # The same file; each answer signs its own URL (they agree within the hour).
    assert event["data"]["videoUrl"].split("?")[0] == final["videoUrl"].split("?")[0]
    assert delivery.headers["webhook-id"].startswith("msg_")


def test_failed_job_delivers_video_failed_and_processing_when_asked(
    client: httpx.Client, user: AccountInfo, receiver: Receiver
) -> None:
    where = path()
    uuid = create_video(
        client,
        user.headers,
        f"blocked {where} [sim block=safety]",
        webhookUrl=receiver.url(where),
        webhookEvents=["video.processing"],
    )
    assert wait_terminal(client, user.headers, uuid)["status"] == "failed"
    events = [
        verified(secret_of(user.account_id), r) for r in wait_received(receiver, where, count=2)
    ]
    assert sorted(e["type"] for e in events) == ["video.failed", "video.processing"]
    failed = next(e for e in events if e["type"] == "video.failed")
    assert failed["data"]["errorCode"] == "content_blocked"


def test_account_default_endpoint_is_used_when_the_request_names_none(
    client: httpx.Client, account: Callable[..., AccountInfo], workers: Workers, receiver: Receiver
) -> None:
    where = path()
    info = account(credits=10, webhook_url=receiver.url(where))
    uuid = create_video(client, info.headers, f"default endpoint {where}")
    (delivery,) = wait_received(receiver, where)
    assert verified(secret_of(info.account_id), delivery)["data"]["uuid"] == uuid


def test_a_failing_receiver_gets_the_same_webhook_id_later(
    client: httpx.Client, user: AccountInfo, receiver: Receiver
) -> None:
    where = path()
    receiver.set(where, status=500)
    create_video(client, user.headers, f"retry {where}", webhookUrl=receiver.url(where))
    wait_received(receiver, where, count=2)
    receiver.set(where, status=200)
    deliveries = wait_received(receiver, where, count=3)
    assert len({d.headers["webhook-id"] for d in deliveries}) == 1
    listed = client.get("/api/webhooks/deliveries", headers=user.headers).json()["data"]
    mine = next(d for d in listed if d["url"] == receiver.url(where))
    wait_for(
        lambda: (
            next(
                d
                for d in client.get("/api/webhooks/deliveries", headers=user.headers).json()["data"]
                if d["id"] == mine["id"]
            )["status"]
            == "delivered"
        ),
        timeout_s=20,
        what="delivered",
    )


def test_a_receiver_that_was_down_gets_the_delivery_when_it_comes_back(
    client: httpx.Client, user: AccountInfo
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/late"
    uuid = create_video(client, user.headers, f"late receiver {port}", webhookUrl=url)
    wait_terminal(client, user.headers, uuid)
    wait_for(
        lambda: any(
            d["attempts"] >= 1
            for d in client.get(
                "/api/webhooks/deliveries", params={"uuid": uuid}, headers=user.headers
            ).json()["data"]
        ),
        timeout_s=20,
        what="a failed first attempt",
    )
    late = start_receiver(port)
    try:
        (delivery,) = wait_received(late, "late")
        assert verified(secret_of(user.account_id), delivery)["data"]["uuid"] == uuid
    finally:
        late.close()


def test_a_slow_receiver_does_not_delay_other_deliveries(
    client: httpx.Client, user: AccountInfo, receiver: Receiver
) -> None:
    slow, fast = path(), path()
    receiver.set(slow, delay_s=8)
    create_video(client, user.headers, f"slow hook {slow}", webhookUrl=receiver.url(slow))
    wait_received(receiver, slow)  # from here on a delivery thread is stuck on the slow receiver
    create_video(client, user.headers, f"fast hook {fast}", webhookUrl=receiver.url(fast))
    (delivery,) = wait_received(receiver, fast, timeout_s=20)
    event = json.loads(delivery.body)
    created = datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert delivery.at - created.timestamp() < 3  # sent at once, not after the slow one


def test_a_webhook_worker_killed_mid_delivery_loses_nothing(
    client: httpx.Client, user: AccountInfo, receiver: Receiver, workers: Workers
) -> None:
    where = path()
    receiver.set(where, delay_s=2.5)
    create_video(client, user.headers, f"kill hook {where}", webhookUrl=receiver.url(where))
    wait_received(receiver, where)  # the attempt is in flight inside the webhook worker
    victim = next(p for p in workers.procs if p.alive() and "webhook" in " ".join(p.argv))
    victim.kill()
    workers.procs.remove(victim)
    receiver.set(where, status=200)
    workers.start_webhook_worker()
    deliveries = wait_received(receiver, where, count=2, timeout_s=60)
    assert len({d.headers["webhook-id"] for d in deliveries}) == 1


def test_replay_resends_with_the_same_webhook_id(
    client: httpx.Client, user: AccountInfo, receiver: Receiver
) -> None:
    where = path()
    uuid = create_video(client, user.headers, f"replay {where}", webhookUrl=receiver.url(where))
    (first,) = wait_received(receiver, where)

    def delivered() -> dict[str, Any] | None:
        listed = client.get("/api/webhooks/deliveries", params={"uuid": uuid}, headers=user.headers)
        assert listed.json()["code"] == 0
        (row,) = listed.json()["data"]
        return row if row["status"] == "delivered" else None

    delivery = wait_for(delivered, timeout_s=20, what="delivery recorded")
    assert isinstance(delivery, dict)
    assert delivery["attempts"] == 1
    assert delivery["lastStatusCode"] == 200
    replayed = client.post(
        f"/api/webhooks/deliveries/{delivery['id']}/replay", headers=user.headers
    ).json()
    assert replayed["code"] == 0
    second = wait_received(receiver, where, count=2)[1]
    assert second.headers["webhook-id"] == first.headers["webhook-id"] == delivery["id"]
    assert second.body == first.body


def test_other_accounts_cannot_see_or_replay_my_deliveries(
    client: httpx.Client, user: AccountInfo, account: Callable[..., AccountInfo], receiver: Receiver
) -> None:
    where = path()
    uuid = create_video(client, user.headers, f"private {where}", webhookUrl=receiver.url(where))
    wait_received(receiver, where)
    (mine,) = client.get(
        "/api/webhooks/deliveries", params={"uuid": uuid}, headers=user.headers
    ).json()["data"]
    stranger = account(credits=1)
    assert (
        client.get(
            "/api/webhooks/deliveries", params={"uuid": uuid}, headers=stranger.headers
        ).json()["data"]
        == []
    )
    replay = client.post(f"/api/webhooks/deliveries/{mine['id']}/replay", headers=stranger.headers)
    assert (replay.status_code, replay.json()["code"]) == (404, 1000)


def test_test_ping_and_secret_rotation_keep_verifying(
    client: httpx.Client, user: AccountInfo, receiver: Receiver
) -> None:
    where = path()
    old = secret_of(user.account_id)
    rotated = CliRunner().invoke(admin_cli, ["rotate-webhook-secret", user.account_id, "--json"])
    assert rotated.exit_code == 0, rotated.output
    new = json.loads(rotated.output)["webhook_secret"]
    assert new != old
    ping = client.post(
        "/api/webhooks/test", json={"url": receiver.url(where)}, headers=user.headers
    ).json()
    assert ping["code"] == 0
    (delivery,) = wait_received(receiver, where)
    assert delivery.values("User-Agent") == ["veo-gateway-webhooks/1"]  # one, whatever the case
    assert verified(old, delivery)["type"] == "webhook.test"  # a receiver not yet switched
    assert verified(new, delivery)["type"] == "webhook.test"  # a receiver already switched


def test_a_410_disables_the_endpoint(
    client: httpx.Client, user: AccountInfo, receiver: Receiver
) -> None:
    where = path()
    receiver.set(where, status=410)
    client.post("/api/webhooks/test", json={"url": receiver.url(where)}, headers=user.headers)
    wait_received(receiver, where)

    def disabled() -> bool:
        endpoints = client.get("/api/webhooks/endpoints", headers=user.headers).json()["data"]
        return any(e["url"] == receiver.url(where) and e["disabled"] for e in endpoints)

    wait_for(disabled, timeout_s=20, what="endpoint disabled")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/hook",
        "http://user:pass@example.com/hook",
        "file:///etc/passwd",
    ],
)
def test_unsafe_webhook_urls_are_refused_at_submit(
    client: httpx.Client, user: AccountInfo, url: str
) -> None:
    answer = client.post(
        "/api/generate-video",
        json={"generationType": "text_to_video", "prompt": "x", "webhookUrl": url},
        headers=user.headers,
    ).json()
    assert answer["code"] == 1000
    assert answer["data"]["field"] == "webhookUrl"
