"""Disabling, enabling and deleting an account with `veo-admin`: its keys are refused at once,
with the answer unknown keys get (tests/e2e/test_account_deletion.py: with jobs and videos)."""

import json
from collections.abc import Callable

import httpx

from shared import key_cache
from shared.keys import hash_api_key
from shared.redis_client import get_redis
from tests.conftest import AccountInfo, Stack
from tests.support.admin import UNKNOWN_JOB, admin, refused_as_unknown
from tests.support.api import upload_image
from tests.support.jobs import balance


def test_a_disabled_accounts_keys_are_refused_at_once_until_it_is_enabled(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    user, neighbour = account(credits=10), account(credits=10)
    assert client.get(UNKNOWN_JOB, headers=user.headers).json()["code"] == 1000  # now cached

    disabled = admin("disable-account", user.account_id)
    assert disabled.exit_code == 0, disabled.output
    refused_as_unknown(client, user)
    get_redis().delete(key_cache.cache_key(hash_api_key(user.api_key)))  # tombstone gone:
    refused_as_unknown(client, user)  # the database refuses too
    assert balance(user.account_id) == 10
    assert client.get(UNKNOWN_JOB, headers=neighbour.headers).json()["code"] == 1000
    listed = {row["account_id"]: row for row in json.loads(admin("list-accounts", "--json").output)}
    assert listed[user.account_id]["state"] == "disabled"

    enabled = admin("enable-account", user.account_id)
    assert enabled.exit_code == 0, enabled.output
    assert client.get(UNKNOWN_JOB, headers=user.headers).json()["code"] == 1000
    assert admin("disable-account", "acct_nobody").exit_code == 1


def test_a_deleted_accounts_keys_and_uploads_are_gone_at_once(
    client: httpx.Client, account: Callable[..., AccountInfo], stack: Stack
) -> None:
    user = account(credits=10)
    upload = upload_image(client, user.headers)
    stored = list((stack.data_dir / "storage" / "uploads" / user.account_id).iterdir())
    assert len(stored) == 1
    assert httpx.get(upload["imageUrl"]).status_code == 200

    assert admin("delete-account", user.account_id).exit_code == 1  # not confirmed: aborted
    assert stored[0].exists()
    deleted = admin("delete-account", user.account_id, "--yes")
    assert deleted.exit_code == 0, deleted.output
    refused_as_unknown(client, user)
    assert not stored[0].exists()
    assert httpx.get(upload["imageUrl"]).status_code == 404
    listed = {row["account_id"]: row for row in json.loads(admin("list-accounts", "--json").output)}
    assert (listed[user.account_id]["state"], listed[user.account_id]["keys"]) == ("deleted", [])
    assert admin("create-key", user.account_id).exit_code == 1
