"""verify_webhook accepts exactly what the gateway's signer (shared/webhooks.py) signs."""

import json
from datetime import timedelta

import pytest
from veo_client import VeoClient, WebhookVerificationError, sign_webhook, verify_webhook

from shared.models import new_webhook_secret
from shared.timeutil import utcnow
from shared.webhooks import signed_headers
from tests.client.fake_api import job

BODY = json.dumps(
    {"type": "video.completed", "timestamp": "2026-12-07T10:01:00Z", "data": job("j1", "completed")}
)


def test_a_delivery_verifies_and_reads_as_a_video() -> None:
    secret = new_webhook_secret()
    headers = signed_headers([secret], "msg_1", BODY)
    event = verify_webhook(BODY.encode(), headers, secret)
    assert (event.type, event.id) == ("video.completed", "msg_1")
    assert event.video is not None
    assert event.video.status == "completed"
    assert VeoClient.verify_webhook(BODY, {k.upper(): v for k, v in headers.items()}, secret)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    headers = signed_headers([new, old], "msg_2", BODY)
    assert verify_webhook(BODY, headers, old).id == "msg_2"
    assert verify_webhook(BODY, headers, new).id == "msg_2"


@pytest.mark.parametrize("tamper", ["body", "secret", "id", "old", "future", "missing"])
def test_anything_else_is_refused(tamper: str) -> None:
    secret = new_webhook_secret()
    moment = utcnow()
    if tamper == "old":
        moment -= timedelta(minutes=10)
    if tamper == "future":
        moment += timedelta(minutes=10)
    headers = signed_headers([secret], "msg_3", BODY, now=moment)
    body = BODY
    if tamper == "body":
        body = BODY.replace("completed", "failed")
    if tamper == "secret":
        secret = new_webhook_secret()
    if tamper == "id":
        headers["webhook-id"] = "msg_4"
    if tamper == "missing":
        del headers["webhook-signature"]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, secret)


def test_the_sdk_signs_as_the_gateway_does() -> None:
    secret = new_webhook_secret()
    headers = signed_headers([secret], "msg_5", BODY)
    stamp = int(headers["webhook-timestamp"])
    assert sign_webhook(secret, "msg_5", stamp, BODY) == headers["webhook-signature"]
