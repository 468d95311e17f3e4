"""`veo-admin set-rate-limits`: an account's two per-minute budgets, `write` (submit, upload,
cancel, delete) and `read` (status, list, events, account), or back to the configured defaults.

The gateways' key cache holds each key's limits for up to a minute; the account's entries are
dropped, so the next request reads the new limits from the database.
"""

from typing import Annotated

import typer

from admin.output import JsonFlag, cache_not_told, fail, report
from admin.records import account_key_hashes, account_or_fail
from shared import key_cache
from shared.db import write_session
from shared.settings import get_settings


def _shown(value: int | None, default: int) -> str:
    return f"{value}/min" if value is not None else f"{default}/min (default)"


def set_rate_limits(
    account_id: str,
    write: Annotated[
        int | None, typer.Option("--write", min=0, help="Write requests per minute; 0: default")
    ] = None,
    read: Annotated[
        int | None, typer.Option("--read", min=0, help="Read requests per minute; 0: default")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Set an account's write and read rate limits (per API key, per minute)."""
    if write is None and read is None:
        fail("give --write and/or --read (0 sets the configured default)")
    with write_session() as session:
        account = account_or_fail(session, account_id)
        if write is not None:
            account.rate_limit_per_minute = write or None
        if read is not None:
            account.read_rate_limit_per_minute = read or None
        session.add(account)
        session.commit()
        limits = (account.rate_limit_per_minute, account.read_rate_limit_per_minute)
        hashes = account_key_hashes(session, account_id, active_only=True)
    settings = get_settings()
    report(
        as_json,
        {"account_id": account_id, "write": limits[0], "read": limits[1]},
        f"{account_id}: write {_shown(limits[0], settings.default_rate_limit_per_minute)},"
        f" read {_shown(limits[1], settings.default_read_rate_limit_per_minute)}",
    )
    if not key_cache.clear_keys(hashes):
        cache_not_told(f"the old limits apply for up to {key_cache.CACHE_TTL_S} s more")
