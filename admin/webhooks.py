"""An account's webhook endpoints and signing secrets, and the health of its receivers."""

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select, update
from sqlmodel import col

from admin.output import JsonFlag, console, fail, report
from admin.records import account_or_fail
from shared import account_webhooks
from shared.db import read_session, write_session
from shared.errors import InvalidParameters
from shared.models import WebhookEndpoint
from shared.settings import get_settings
from shared.timeutil import iso_z
from shared.webhooks import signing_secrets


def set_webhook(
    account_id: str,
    url: Annotated[str | None, typer.Argument(help="Default endpoint; omit to remove it")] = None,
) -> None:
    """Set (or clear) the account's default webhook endpoint."""
    with read_session() as session:
        account_or_fail(session, account_id)
    try:
        account_webhooks.set_endpoint(account_id, url)
    except InvalidParameters as exc:
        fail(exc.msg)
    console.print(f"webhook endpoint of {account_id}: {url or 'none'}")


def show_webhook_secret(account_id: str, as_json: JsonFlag = False) -> None:
    """The secret receivers verify signatures with (and the previous one while it still signs)."""
    with read_session() as session:
        account = account_or_fail(session, account_id)
    active = signing_secrets(account)
    report(
        as_json,
        {"account_id": account_id, "webhook_secret": active[0], "also_signing": active[1:]},
        active[0],
    )


def rotate_webhook_secret(
    account_id: str,
    grace_hours: Annotated[
        float | None, typer.Option(min=0, help="How long the old secret keeps signing")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """New signing secret; both sign during the grace period, so receivers can switch safely."""
    hours = grace_hours if grace_hours is not None else get_settings().webhook_secret_grace_s / 3600
    with read_session() as session:
        account_or_fail(session, account_id)
    secret = account_webhooks.rotate(account_id, timedelta(hours=hours))
    report(
        as_json,
        {"account_id": account_id, "webhook_secret": secret, "grace_hours": hours},
        f"new secret: {secret}\nthe previous one keeps signing for {hours:g} h",
    )


def list_endpoints(as_json: JsonFlag = False) -> None:
    """Webhook receivers and their health: which are failing, which were disabled and why."""
    with read_session() as session:
        endpoints = (
            session.execute(select(WebhookEndpoint).order_by(col(WebhookEndpoint.id)))
            .scalars()
            .all()
        )
    rows = [
        {
            "account_id": e.account_id,
            "url": e.url,
            "disabled": e.disabled_at is not None,
            "disabled_reason": e.disabled_reason,
            "failing_since": iso_z(e.failing_since) if e.failing_since else None,
        }
        for e in endpoints
    ]
    table = Table("account", "url", "state", "since")
    for row in rows:
        state = (
            f"disabled: {row['disabled_reason']}"
            if row["disabled"]
            else "failing"
            if row["failing_since"]
            else "ok"
        )
        table.add_row(row["account_id"], row["url"], state, row["failing_since"] or "")
    report(as_json, rows, table)


def enable_endpoint(account_id: str, url: str) -> None:
    """Re-enable a disabled endpoint (new deliveries to it are sent again)."""
    with write_session() as session:
        result = session.execute(
            update(WebhookEndpoint)
            .where(col(WebhookEndpoint.account_id) == account_id, col(WebhookEndpoint.url) == url)
            .values(disabled_at=None, disabled_reason=None, failing_since=None)
        )
        session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        fail("no such endpoint")
    console.print("endpoint enabled")
