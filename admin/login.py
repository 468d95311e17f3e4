"""A one-time link that signs an account holder in to the dashboard (/dashboard)."""

import redis
import typer

from admin.output import JsonFlag, fail, note_guessed_redis, report
from admin.records import account_or_fail
from shared.db import read_session
from shared.login_links import create_login_link
from shared.settings import get_settings


def login_link(account_id: str, as_json: JsonFlag = False) -> None:
    """Print a dashboard sign-in link for the account: valid once, for 15 minutes."""
    with read_session() as session:
        account = account_or_fail(session, account_id)
        if account.disabled_at is not None:
            fail(f"{account_id} is disabled: `enable-account` first")
    try:
        url = create_login_link(account_id)
    except redis.RedisError as error:
        fail(f"Redis did not answer ({error!r}): no link was made")
    note_guessed_redis()
    minutes = get_settings().dashboard_login_link_ttl_s / 60
    report(as_json, {"account_id": account_id, "url": url, "expires_in_minutes": minutes}, url)
    if not as_json:
        typer.echo(f"valid once, for {minutes:g} minutes", err=True)
