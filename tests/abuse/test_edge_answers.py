"""The edge of the API: the key is checked before the body is read, every body that is not JSON
gets the one "malformed JSON" answer, and ids are found whatever their case."""

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from shared.db import write_session
from shared.models import WebhookDelivery
from shared.timeutil import utcnow
from tests.conftest import AccountInfo
from tests.support.api import create_video

MALFORMED = {"field": "body", "reason": "malformed JSON"}
BROKEN_BODIES = [
    b"{not json",
    b'{"generationType":"text_to_video","prompt":"\xff\xfe"}',  # invalid UTF-8
    b'{"prompt":' + b"[" * 20_000 + b"]" * 20_000 + b"}",  # deeper than the parser goes
]
BODY_ROUTES = ["/api/generate-video", "/api/webhooks/test"]


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize("raw", BROKEN_BODIES, ids=["syntax", "utf-8", "nesting"])
@pytest.mark.parametrize("authorization", [None, "Bearer veo_" + "A" * 43])
def test_a_broken_body_without_a_valid_key_is_1002(
    client: httpx.Client, path: str, raw: bytes, authorization: str | None
) -> None:
    """Authentication comes first: no key (or a wrong one) is 1002 whatever the body holds."""
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    response = client.post(path, content=raw, headers=headers)
    assert (response.status_code, response.json()["code"]) == (401, 1002)


@pytest.mark.parametrize("path", BODY_ROUTES)
def test_every_body_that_is_not_json_gets_the_same_1000(
    client: httpx.Client, account: Callable[..., AccountInfo], path: str
) -> None:
    """Bad syntax, invalid UTF-8 and absurd nesting all answer 1000 "malformed JSON" in `data`."""
    user = account(credits=10)
    headers = {**user.headers, "Content-Type": "application/json"}
    for raw in BROKEN_BODIES:
        response = client.post(path, content=raw, headers=headers)
        body = response.json()
        assert response.status_code == 400, body
        assert (body["code"], body["data"]) == (1000, MALFORMED), body


def test_an_uppercase_uuid_finds_ones_own_job_and_deliveries(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    """UUIDs are case-insensitive: status, the deliveries filter and a replay accept any case."""
    user = account(credits=10)
    uuid = create_video(client, user.headers, "case probe")
    status = client.get(f"/api/video-status/{uuid.upper()}", headers=user.headers).json()
    assert (status["code"], status["data"]["uuid"]) == (0, uuid), status
    head = client.head(f"/api/video-status/{uuid.upper()}", headers=user.headers)
    assert head.status_code == 200

    with write_session() as session:  # a delivery of that job, not due for a day
        delivery = WebhookDelivery(
            account_id=user.account_id,
            job_id=uuid,
            event_type="video.completed",
            url="http://127.0.0.1:9/h",
            payload="{}",
            next_attempt_at=utcnow() + timedelta(days=1),
        )
        session.add(delivery)
        session.commit()
        delivery_id = delivery.id
    listed = client.get(
        "/api/webhooks/deliveries", params={"uuid": uuid.upper()}, headers=user.headers
    ).json()
    assert [d["id"] for d in listed["data"]] == [delivery_id], listed
    replayed = client.post(
        f"/api/webhooks/deliveries/{delivery_id.upper()}/replay", headers=user.headers
    ).json()
    assert (replayed["code"], replayed["data"]["id"]) == (0, delivery_id), replayed


def test_a_bad_uuid_without_a_key_is_1002(client: httpx.Client) -> None:
    """The status endpoint, too, says nothing about the id before the key is checked."""
    for path in ("/api/video-status/a%00b", "/api/video-status/%ED%A0%80"):
        for method in ("GET", "HEAD"):
            response = client.request(method, path)
            assert response.status_code == 401, (method, path)
    assert client.get("/api/video-status/a%00b").json()["code"] == 1002
