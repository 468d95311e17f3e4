"""One delivery message may name several deliveries to one endpoint: sent in order, and a
failing receiver stops the group, handing the untried rows back uncounted."""

import secrets
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlmodel import col

from shared.db import read_session, write_session
from shared.models import WebhookDelivery
from shared.settings import get_settings
from shared.timeutil import utcnow
from tests.conftest import AccountInfo
from tests.support.receiver import Receiver

# In-process, on a database no worker serves: the session's webhook worker would otherwise take
# the rows a failing group hands back (the messages land on its queue) and count an attempt.
pytestmark = pytest.mark.usefixtures("quiet_stack")


def insert_deliveries(account_id: str, url: str, count: int) -> list[str]:
    rows = [
        WebhookDelivery(
            account_id=account_id,
            event_type="video.completed",
            url=url,
            payload=f'{{"n":{n}}}',
            next_attempt_at=utcnow(),
        )
        for n in range(count)
    ]
    with write_session() as session:
        session.add_all(rows)
        session.commit()
    return [row.id for row in rows]


def rows(ids: list[str]) -> dict[str, WebhookDelivery]:
    with read_session() as session:
        found = session.execute(
            select(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids))
        ).scalars()
        return {row.id: row for row in found}


def test_a_group_is_sent_in_order_and_recorded(
    account: Callable[..., AccountInfo], receiver: Receiver
) -> None:
    from worker.tasks.deliver import deliver_webhook

    path = f"group-{secrets.token_hex(4)}"
    ids = insert_deliveries(account(credits=1).account_id, receiver.url(path), 5)
    assert deliver_webhook.run(*ids) == "5 of 5 delivered"
    assert [r.headers["webhook-id"] for r in receiver.at(path)] == ids
    for received in receiver.at(path):  # one User-Agent, not ours and the client's default
        assert received.values("User-Agent") == ["veo-gateway-webhooks/1"]
    assert {(r.status, r.attempts) for r in rows(ids).values()} == {("delivered", 1)}
    assert deliver_webhook.run(*ids) == "skipped"  # a duplicate message sends nothing again


def test_a_failing_receiver_stops_the_group_and_hands_the_rest_back(
    account: Callable[..., AccountInfo], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.tasks.deliver import deliver_webhook

    # A retry far enough ahead that "not due yet" holds however slowly the reads below come.
    monkeypatch.setenv("VEO_WEBHOOK_RETRY_SCHEDULE_S", "300")
    get_settings.cache_clear()
    path = f"group-{secrets.token_hex(4)}"
    receiver.set(path, status=500)
    ids = insert_deliveries(account(credits=1).account_id, receiver.url(path), 4)
    assert deliver_webhook.run(*ids) == "0 of 4 delivered"
    assert len(receiver.at(path)) == 1  # one timeout or error per group, not one per row
    stored = rows(ids)
    first, rest = stored[ids[0]], [stored[i] for i in ids[1:]]
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
    assert first.next_attempt_at is not None
    assert first.next_attempt_at > utcnow()
    for row in rest:  # due again at once, their unsent claim not counted as an attempt
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 0, None)
        assert row.next_attempt_at is not None
        assert row.next_attempt_at <= utcnow()
