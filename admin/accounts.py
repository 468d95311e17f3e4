"""Accounts: create, top up, list, and disable or enable one.

A disabled account's keys are refused at once with the answer an unknown key gets (1002); the
jobs it already has finish, are charged or refunded as usual, and their webhooks are sent, but
it can start nothing new. `delete-account` (admin/erase.py) disables first, then erases.
"""

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select
from sqlmodel import col

from admin.keys import ACCOUNT_KEYS_STILL_CACHED, issue_key, refuse_at_once
from admin.output import JsonFlag, cache_not_told, note_guessed_redis, report
from admin.records import account_key_hashes, account_or_fail
from shared import key_cache
from shared.credits import grant
from shared.db import read_session, write_session
from shared.models import Account, ApiKey
from shared.timeutil import iso_z, utcnow


def state_of(account: Account) -> str:
    if account.deleted_at is not None:
        return "deleted"
    return "disabled" if account.disabled_at is not None else "active"


def create_account_with_key(
    credits: int,
    *,
    name: str = "",
    webhook_url: str | None = None,
    rate_limit: int | None = None,
    read_rate_limit: int | None = None,
) -> tuple[Account, str]:
    """`rate_limit`: the write budget; `read_rate_limit`: the read one (None: the defaults)."""
    account = Account(
        name=name,
        credits=0,
        webhook_url=webhook_url,
        rate_limit_per_minute=rate_limit,
        read_rate_limit_per_minute=read_rate_limit,
    )
    with write_session() as session:
        session.add(account)
        session.flush()
        if credits:
            grant(session, account.id, credits)
        session.commit()
    account.credits = credits
    return account, issue_key(account.id)


def create_account(
    *,
    credits: Annotated[int, typer.Option(min=0, help="Starting credits")] = 0,
    name: Annotated[str, typer.Option(help="A label for operators")] = "",
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="Default webhook endpoint")
    ] = None,
    rate_limit: Annotated[
        int | None,
        typer.Option("--rate-limit", min=1, help="Write requests per minute (see set-rate-limits)"),
    ] = None,
    read_rate_limit: Annotated[
        int | None, typer.Option("--read-rate-limit", min=1, help="Read requests per minute")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an account and print its first API key (shown once)."""
    account, key = create_account_with_key(
        credits,
        name=name,
        webhook_url=webhook_url,
        rate_limit=rate_limit,
        read_rate_limit=read_rate_limit,
    )
    created = {
        "account_id": account.id,
        "api_key": key,
        "credits": credits,
        "webhook_secret": account.webhook_secret,
    }
    report(
        as_json,
        created,
        f"account {account.id} with {credits} credits\nAPI key (shown once): {key}\n"
        f"webhook signing secret: {account.webhook_secret}",
    )


def add_credits(
    account_id: str, amount: Annotated[int, typer.Argument(min=1)], as_json: JsonFlag = False
) -> None:
    """Top up an account's credits."""
    with write_session() as session:
        account_or_fail(session, account_id)
        grant(session, account_id, amount)
        session.commit()
    with read_session() as session:
        balance = session.execute(
            select(col(Account.credits)).where(col(Account.id) == account_id)
        ).scalar_one()
    report(
        as_json,
        {"account_id": account_id, "credits": balance},
        f"{account_id} now has {balance} credits",
    )


def list_accounts(as_json: JsonFlag = False) -> None:
    """Every account with its credits, keys and state (active, disabled, deleted)."""
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
            "read_rate_limit_per_minute": a.read_rate_limit_per_minute,
            "webhook_url": a.webhook_url,
            "created_at": iso_z(a.created_at),
            "state": state_of(a),
            "keys": [
                {"prefix": k.key_prefix, "revoked": k.revoked_at is not None}
                for k in keys
                if k.account_id == a.id
            ],
        }
        for a in accounts
    ]
    table = Table("account", "name", "credits", "keys", "webhook", "state")
    for row in rows:
        active = sum(1 for k in row["keys"] if not k["revoked"])
        table.add_row(
            row["account_id"],
            row["name"],
            str(row["credits"]),
            str(active),
            row["webhook_url"] or "",
            row["state"],
        )
    report(as_json, rows, table)


def disable(account_id: str, *, deleted_ok: bool = False) -> bool:
    """Disable the account (if it is not yet) and tombstone its keys in the gateways' cache;
    False when Redis did not answer."""
    with write_session() as session:
        account = account_or_fail(session, account_id, deleted_ok=deleted_ok)
        if account.disabled_at is None:
            account.disabled_at = utcnow()
            session.add(account)
            session.commit()
        hashes = account_key_hashes(session, account_id, active_only=False)
    return refuse_at_once(hashes)


def disable_account(account_id: str, as_json: JsonFlag = False) -> None:
    """Refuse the account's keys at once (1002, as unknown keys); jobs it has already finish."""
    told = disable(account_id)
    report(
        as_json,
        {"account_id": account_id, "state": "disabled"},
        f"account {account_id} disabled: its keys are refused; jobs it already has still finish",
    )
    if not told:
        cache_not_told(ACCOUNT_KEYS_STILL_CACHED)


def enable_account(account_id: str, as_json: JsonFlag = False) -> None:
    """Accept the account's (unrevoked) keys again."""
    with write_session() as session:
        account = account_or_fail(session, account_id)
        account.disabled_at = None
        session.add(account)
        session.commit()
        hashes = account_key_hashes(session, account_id, active_only=True)
    # Disabling left tombstones that would refuse the keys for up to an hour more.
    told = key_cache.clear_keys(hashes)
    if told and hashes:
        note_guessed_redis()
    report(
        as_json,
        {"account_id": account_id, "state": "active"},
        f"account {account_id} enabled: its keys are accepted again",
    )
    if not told:
        cache_not_told(
            f"its keys stay refused for up to {key_cache.TOMBSTONE_TTL_S} s; run enable-account"
            " again once Redis answers"
        )
