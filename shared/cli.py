"""`veo-admin`: accounts, keys and credits on the stack's database. Names and flags are stable."""

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select, update
from sqlmodel import col

from shared import migrate
from shared.credits import grant
from shared.db import read_session, write_session
from shared.keys import display_prefix, hash_api_key, new_api_key
from shared.models import Account, ApiKey
from shared.timeutil import iso_z, utcnow

app = typer.Typer(help="Operate the Veo API: accounts, API keys, credits.", no_args_is_help=True)
console = Console()

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text")]


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


def issue_key(account_id: str) -> str:
    """Create a key for the account; the only moment the key itself exists in clear."""
    key = new_api_key()
    with write_session() as session:
        session.add(ApiKey(account_id=account_id, key_hash=hash_api_key(key), key_prefix=display_prefix(key)))
        session.commit()
    return key


def create_account_with_key(
    credits: int, *, name: str = "", webhook_url: str | None = None, rate_limit: int | None = None
) -> tuple[Account, str]:
    account = Account(name=name, credits=0, webhook_url=webhook_url, rate_limit_per_minute=rate_limit)
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
    webhook_url: Annotated[str | None, typer.Option("--webhook-url", help="Default webhook endpoint")] = None,
    rate_limit: Annotated[int | None, typer.Option("--rate-limit", min=1, help="Requests per minute")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an account and print its first API key (shown once)."""
    account, key = create_account_with_key(credits, name=name, webhook_url=webhook_url, rate_limit=rate_limit)
    if as_json:
        typer.echo(json.dumps({"account_id": account.id, "api_key": key, "credits": credits}))
    else:
        console.print(f"account {account.id} with {credits} credits\nAPI key (shown once): {key}")


@app.command("create-key")
def create_key(account_id: str, as_json: JsonFlag = False) -> None:
    """Add another API key to an account (shown once)."""
    with read_session() as session:
        if session.get(Account, account_id) is None:
            _fail(f"no account {account_id}")
    key = issue_key(account_id)
    typer.echo(json.dumps({"account_id": account_id, "api_key": key}) if as_json else key)


@app.command("revoke-key")
def revoke_key(api_key: Annotated[str, typer.Argument(help="The key, or its displayed prefix")]) -> None:
    """Revoke a key at once; requests with it answer 1002 from then on."""
    with write_session() as session:
        condition = (
            col(ApiKey.key_hash) == hash_api_key(api_key)
            if len(api_key) > 16
            else col(ApiKey.key_prefix) == api_key
        )
        result = session.execute(
            update(ApiKey).where(condition, col(ApiKey.revoked_at).is_(None)).values(revoked_at=utcnow())
        )
        session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        _fail("no single active key matches")
    console.print("key revoked")


@app.command("add-credits")
def add_credits(account_id: str, amount: Annotated[int, typer.Argument(min=1)], as_json: JsonFlag = False) -> None:
    """Top up an account's credits."""
    with write_session() as session:
        if session.get(Account, account_id) is None:
            _fail(f"no account {account_id}")
        grant(session, account_id, amount)
        session.commit()
    with read_session() as session:
        balance = session.execute(select(Account.credits).where(col(Account.id) == account_id)).scalar_one()
    if as_json:
        typer.echo(json.dumps({"account_id": account_id, "credits": balance}))
    else:
        console.print(f"{account_id} now has {balance} credits")


@app.command("list-accounts")
def list_accounts(as_json: JsonFlag = False) -> None:
    """Every account with its credits and keys."""
    with read_session() as session:
        accounts = session.execute(select(Account).order_by(col(Account.created_at))).scalars().all()
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
                {"prefix": k.key_prefix, "revoked": k.revoked_at is not None} for k in keys if k.account_id == a.id
            ],
        }
        for a in accounts
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("account", "name", "credits", "keys", "webhook")
    for row in rows:
        active = sum(1 for k in row["keys"] if not k["revoked"])
        table.add_row(row["account_id"], row["name"], str(row["credits"]), str(active), row["webhook_url"] or "")
    console.print(table)
