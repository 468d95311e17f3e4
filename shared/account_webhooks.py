"""An account's default webhook endpoint and signing secret, changed by its holder (the API and
the dashboard) and by the operator (`veo-admin`)."""

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col

from shared.db import read_session, write_session
from shared.errors import NotFound, UnsafeUrl, invalid
from shared.models import Account
from shared.netguard.addresses import check_url
from shared.settings import get_settings
from shared.webhooks import rotate_secret, signing_secrets


def set_endpoint(account_id: str, url: str | None) -> None:
    """Set (or, with None, clear) the endpoint; a URL that reaches no public host is 1000."""
    if url is not None:
        try:
            check_url(url)
        except UnsafeUrl as exc:
            raise invalid("url", exc.reason) from exc
    with write_session() as session:
        session.execute(
            update(Account).where(col(Account.id) == account_id).values(webhook_url=url)
        )
        session.commit()


def current_secrets(account_id: str) -> list[str]:
    """The secret that signs, then the previous one while its grace period lasts."""
    with read_session() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise NotFound("Account not found")
        return signing_secrets(account)


def rotate(account_id: str, grace: timedelta | None = None) -> str:
    """A new secret; the old one keeps signing for `grace` (default webhook_secret_grace_s)."""
    if grace is None:
        grace = timedelta(seconds=get_settings().webhook_secret_grace_s)
    with write_session() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise NotFound("Account not found")
        secret = rotate_secret(account, grace)
        session.add(account)
        session.commit()
    return secret
