"""`veo-admin`: accounts, keys and credits on the stack's database. Names and flags are stable."""

import json
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console, RenderableType
from rich.table import Table
from sqlalchemy import select, update
from sqlmodel import Session, col

from shared import key_cache, migrate
from shared.credits import grant
from shared.db import read_session, write_session
from shared.errors import UnsafeUrl, invalid
from shared.keys import display_prefix, hash_api_key, new_api_key
from shared.models import Account, ApiKey, WebhookEndpoint
from shared.netguard.addresses import check_url
from shared.settings import get_settings
from shared.timeutil import iso_z, utcnow
from shared.webhooks import rotate_secret, signing_secrets

app = typer.Typer(help="Operate the Veo API: accounts, API keys, credits.", no_args_is_help=True)
console = Console()

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text")]


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


def _report(as_json: bool, document: object, text: RenderableType) -> None:
    """With `--json`, the document on one line, for scripts; otherwise the text, for people."""
    if as_json:
        typer.echo(json.dumps(document))
    else:
        console.print(text)


def issue_key(account_id: str) -> str:
    """Create a key for the account; the only moment the key itself exists in clear."""
    key = new_api_key()
    with write_session() as session:
        session.add(
            ApiKey(
                account_id=account_id, key_hash=hash_api_key(key), key_prefix=display_prefix(key)
            )
        )
        session.commit()
    return key


def create_account_with_key(
    credits: int, *, name: str = "", webhook_url: str | None = None, rate_limit: int | None = None
) -> tuple[Account, str]:
    account = Account(
        name=name, credits=0, webhook_url=webhook_url, rate_limit_per_minute=rate_limit
    )
    with write_session() as session:
        session.add(account)
        session.flush()
        if credits:
            grant(session, account.id, credits)
        session.commit()
    account.credits = credits
    return account, issue_key(account.id)


@app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database schema."""
    migrate.upgrade()
    console.print("database is up to date")


@app.command("create-account")
def create_account(
    credits: Annotated[int, typer.Option(min=0, help="Starting credits")] = 0,
    name: Annotated[str, typer.Option(help="A label for operators")] = "",
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="Default webhook endpoint")
    ] = None,
    rate_limit: Annotated[
        int | None, typer.Option("--rate-limit", min=1, help="Requests per minute")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an account and print its first API key (shown once)."""
    account, key = create_account_with_key(
        credits, name=name, webhook_url=webhook_url, rate_limit=rate_limit
    )
    created = {
        "account_id": account.id,
        "api_key": key,
        "credits": credits,
        "webhook_secret": account.webhook_secret,
    }
    _report(
        as_json,
        created,
        f"account {account.id} with {credits} credits\nAPI key (shown once): {key}\n"
        f"webhook signing secret: {account.webhook_secret}",
    )


@app.command("create-key")
def create_key(account_id: str, as_json: JsonFlag = False) -> None:
    """Add another API key to an account (shown once)."""
    with read_session() as session:
        if session.get(Account, account_id) is None:
            _fail(f"no account {account_id}")
    key = issue_key(account_id)
    typer.echo(json.dumps({"account_id": account_id, "api_key": key}) if as_json else key)


@app.command("revoke-key")
def revoke_key(
    api_key: Annotated[str, typer.Argument(help="The key, or its displayed prefix")],
) -> None:
    """Revoke a key at once; requests with it answer 1002 from then on."""
    with write_session() as session:
        condition = (
            col(ApiKey.key_hash) == hash_api_key(api_key)
            if len(api_key) > 16
            else col(ApiKey.key_prefix) == api_key
        )
        hashes = list(
            session.execute(
                update(ApiKey)
                .where(condition, col(ApiKey.revoked_at).is_(None))
                .values(revoked_at=utcnow())
                .returning(col(ApiKey.key_hash))
            ).scalars()
        )
        if len(hashes) != 1:
            session.rollback()
            _fail("no single active key matches")
        session.commit()
    if not key_cache.forget_keys(hashes):
        console.print(
            "[yellow]warning:[/yellow] Redis is unreachable, so gateways may accept the key for "
            f"up to {key_cache.CACHE_TTL_S} s more"
        )
    console.print("key revoked")


@app.command("add-credits")
def add_credits(
    account_id: str, amount: Annotated[int, typer.Argument(min=1)], as_json: JsonFlag = False
) -> None:
    """Top up an account's credits."""
    with write_session() as session:
        if session.get(Account, account_id) is None:
            _fail(f"no account {account_id}")
        grant(session, account_id, amount)
        session.commit()
    with read_session() as session:
        balance = session.execute(
            select(col(Account.credits)).where(col(Account.id) == account_id)
        ).scalar_one()
    _report(
        as_json,
        {"account_id": account_id, "credits": balance},
        f"{account_id} now has {balance} credits",
    )


@app.command("list-accounts")
def list_accounts(as_json: JsonFlag = False) -> None:
    """Every account with its credits and keys."""
    with read_session() as session:
        accounts = (
            session.execute(select(Account).order_by(col(Account.created_at))).scalars().all()
        )
        keys = session.execute(select(ApiKey)).scalars().all()
    rows = [
        {
            "account_id": a.id,
            "name": a.name,
            "credits": a.credits,
            "rate_limit_per_minute": a.rate_limit_per_minute,
            "webhook_url": a.webhook_url,
            "created_at": iso_z(a.created_at),
            "keys": [
                {"prefix": k.key_prefix, "revoked": k.revoked_at is not None}
                for k in keys
                if k.account_id == a.id
            ],
        }
        for a in accounts
    ]
    table = Table("account", "name", "credits", "keys", "webhook")
    for row in rows:
        active = sum(1 for k in row["keys"] if not k["revoked"])
        table.add_row(
            row["account_id"],
            row["name"],
            str(row["credits"]),
            str(active),
            row["webhook_url"] or "",
        )
    _report(as_json, rows, table)


def _account_or_fail(session: Session, account_id: str) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        _fail(f"no account {account_id}")
    assert account is not None
    return account


@app.command("set-webhook")
def set_webhook(
    account_id: str,
    url: Annotated[str | None, typer.Argument(help="Default endpoint; omit to remove it")] = None,
) -> None:
    """Set (or clear) the account's default webhook endpoint."""
    if url is not None:
        try:
            check_url(url)
        except UnsafeUrl as exc:
            _fail(invalid("url", exc.reason).msg)
    with write_session() as session:
        account = _account_or_fail(session, account_id)
        account.webhook_url = url
        session.add(account)
        session.commit()
    console.print(f"webhook endpoint of {account_id}: {url or 'none'}")


@app.command("show-webhook-secret")
def show_webhook_secret(account_id: str, as_json: JsonFlag = False) -> None:
    """The secret receivers verify signatures with (and the previous one while it still signs)."""
    with read_session() as session:
        account = _account_or_fail(session, account_id)
    active = signing_secrets(account)
    _report(
        as_json,
        {"account_id": account_id, "webhook_secret": active[0], "also_signing": active[1:]},
        active[0],
    )


@app.command("rotate-webhook-secret")
def rotate_webhook_secret(
    account_id: str,
    grace_hours: Annotated[
        float | None, typer.Option(min=0, help="How long the old secret keeps signing")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """New signing secret; both sign during the grace period, so receivers can switch safely."""
    hours = grace_hours if grace_hours is not None else get_settings().webhook_secret_grace_s / 3600
    with write_session() as session:
        account = _account_or_fail(session, account_id)
        secret = rotate_secret(account, timedelta(hours=hours))
        session.add(account)
        session.commit()
    _report(
        as_json,
        {"account_id": account_id, "webhook_secret": secret, "grace_hours": hours},
        f"new secret: {secret}\nthe previous one keeps signing for {hours:g} h",
    )


@app.command("list-endpoints")
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
    _report(as_json, rows, table)


@app.command("enable-endpoint")
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
        _fail("no such endpoint")
    console.print("endpoint enabled")
