"""API keys: issue one (shown once), revoke one at once, and tell the gateways' key cache."""

import json
from typing import Annotated

import typer
from sqlmodel import col

from admin.output import (
    JsonFlag,
    cache_not_told,
    console,
    err_console,
    fail,
    note_guessed_redis,
)
from admin.records import account_or_fail
from shared import key_cache
from shared.api_keys import issue_key, revoke_where
from shared.db import read_session
from shared.keys import hash_api_key
from shared.models import ApiKey

__all__ = ["issue_key"]  # imported from here by admin.cli

# What a change to an account's keys that Redis did not hear of leaves behind.
ACCOUNT_KEYS_STILL_CACHED = (
    f"gateways that cached its keys accept them for up to {key_cache.CACHE_TTL_S} s more"
)


def refuse_at_once(key_hashes: list[str]) -> bool:
    """Tombstone the keys in the gateways' cache, so the next request with one reads 1002;
    False when Redis did not answer (the caller says so: see cache_not_told)."""
    told = key_cache.forget_keys(key_hashes)
    if told and key_hashes:
        note_guessed_redis()
    return told


def create_key(account_id: str, as_json: JsonFlag = False) -> None:
    """Add another API key to an account (shown once)."""
    with read_session() as session:
        disabled = account_or_fail(session, account_id).disabled_at is not None
    key = issue_key(account_id)
    typer.echo(json.dumps({"account_id": account_id, "api_key": key}) if as_json else key)
    if disabled:
        err_console.print(
            f"note: {account_id} is disabled: this key is refused until `enable-account`",
            style="yellow",
        )


def revoke_key(
    api_key: Annotated[str, typer.Argument(help="The key, or its displayed prefix")],
) -> None:
    """Revoke a key at once; requests with it answer 1002 from then on."""
    condition = (
        col(ApiKey.key_hash) == hash_api_key(api_key)
        if len(api_key) > 16
        else col(ApiKey.key_prefix) == api_key
    )
    hashes = revoke_where(condition)
    if hashes is None:
        fail("no single active key matches")
    told = refuse_at_once(hashes)
    console.print("key revoked")
    if not told:
        cache_not_told(
            f"gateways that cached this key accept it for up to {key_cache.CACHE_TTL_S} s more"
        )
