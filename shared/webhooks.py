"""Standard Webhooks signing and the secrets that sign: the account's, plus the previous one
during a rotation's grace period, so a receiver that still has the old secret keeps verifying."""

from datetime import datetime, timedelta

from standardwebhooks import Webhook

from shared.models import Account, new_webhook_secret
from shared.timeutil import utcnow


def signing_secrets(account: Account, now: datetime | None = None) -> list[str]:
    now = now or utcnow()
    active = [account.webhook_secret]
    until = account.webhook_secret_previous_until
    if account.webhook_secret_previous and until is not None and now < until:
        active.append(account.webhook_secret_previous)
    return active


def signed_headers(
    secrets: list[str], message_id: str, body: str, now: datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers; one `v1,` signature per active secret."""
    moment = (now or utcnow()).replace(microsecond=0)
    signature = " ".join(Webhook(secret).sign(message_id, moment, body) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": "veo-gateway-webhooks/1",
    }


def rotate_secret(account: Account, grace: timedelta) -> str:
    """New secret now; the old one keeps signing for `grace`."""
    account.webhook_secret_previous = account.webhook_secret
    account.webhook_secret_previous_until = utcnow() + grace
    account.webhook_secret = new_webhook_secret()
    return account.webhook_secret
