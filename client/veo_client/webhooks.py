"""Verifying the API's webhooks (Standard Webhooks: HMAC-SHA256 over "id.timestamp.body" with
the account's `whsec_` secret), without any dependency beyond the standard library."""

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping

from veo_client.errors import WebhookVerificationError
from veo_client.models import WebhookEvent

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
DEFAULT_TOLERANCE_S = 300  # deliveries older or newer than this are replays or clock trouble


def verify_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> WebhookEvent:
    """The delivery's event once its signature and timestamp verify; WebhookVerificationError
    otherwise. Pass the raw body exactly as received. During a secret rotation the API signs
    with both secrets, so either verifies."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    _check_timestamp(stamp, tolerance, time.time() if now is None else now)
    payload = body.encode() if isinstance(body, str) else body
    expected = _sign(_key(secret), msg_id, stamp, payload)
    offered = [part.split(",", 1) for part in signatures.split()]
    if not any(
        len(pair) == 2 and pair[0] == "v1" and hmac.compare_digest(pair[1], expected)
        for pair in offered
    ):
        raise WebhookVerificationError("no matching signature")
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise WebhookVerificationError("the body is not JSON") from exc
    return WebhookEvent.model_validate({**event, "id": msg_id})


def sign_webhook(secret: str | bytes, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` value for a delivery: for tests of a receiver."""
    payload = body.encode() if isinstance(body, str) else body
    return "v1," + _sign(_key(secret), msg_id, str(timestamp), payload)


def _sign(key: bytes, msg_id: str, stamp: str, payload: bytes) -> str:
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + payload, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")
    except binascii.Error as exc:
        raise WebhookVerificationError("the secret is not a whsec_ base64 secret") from exc
    if not key:
        raise WebhookVerificationError("empty secret")
    return key


def _check_timestamp(stamp: str, tolerance: float, now: float) -> None:
    try:
        sent = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not a number") from exc
    if abs(now - sent) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
