"""Disabling, enabling and deleting an account with `veo-admin`: its keys are refused at once
(as unknown keys are), what it already started finishes, and deleting erases what it put in
while the ledger keeps adding up."""

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col
from typer.testing import CliRunner, Result

from admin.cli import app as admin_cli
from devtools.processes import wait_for
from shared import key_cache
from shared.db import read_session
from shared.keys import hash_api_key
from shared.models import (
    Account,
    ApiKey,
    Job,
    LedgerEntry,
    Upload,
    WebhookDelivery,
    WebhookEndpoint,
)
from shared.redis_client import get_redis
from shared.states import JobStatus
from tests.conftest import AccountInfo, Stack, Workers
from tests.support.api import create_video
from tests.support.jobs import balance
from tests.uploads.images import image_bytes

UNKNOWN_JOB = "/api/video-status/00000000-0000-0000-0000-000000000000"
TEXT_JOB = {"generationType": "text_to_video", "prompt": "while disabled"}


def admin(*args: str) -> Result:
    return CliRunner().invoke(admin_cli, list(args))


def refused_as_unknown(client: httpx.Client, user: AccountInfo) -> None:
    unknown = {"Authorization": "Bearer veo_" + secrets.token_urlsafe(32)}
    for method, path, body in (
        ("GET", UNKNOWN_JOB, None),
        ("POST", "/api/generate-video", TEXT_JOB),
    ):
        answer = client.request(method, path, headers=user.headers, json=body)
        expected = client.request(method, path, headers=unknown, json=body)
        assert (answer.status_code, answer.json()) == (401, expected.json()), answer.text
        assert answer.json()["code"] == 1002


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


def _count(model: Any, account_id: str) -> int:
    with read_session() as session:
        return int(
            session.execute(
                select(func.count()).select_from(model).where(col(model.account_id) == account_id)
            ).scalar_one()
        )


def _job(job_id: str) -> Job:
    with read_session() as session:
        job = session.get(Job, job_id)
    assert job is not None
    return job


def test_deleting_an_account_waits_for_its_jobs_then_erases_its_data_and_keeps_its_ledger(
    client: httpx.Client, account: Callable[..., AccountInfo], workers: Workers, stack: Stack
) -> None:
    owner = account(credits=20)
    upload = client.post(
        "/api/upload-video-image",
        headers=owner.headers,
        files={"file": ("a.png", image_bytes("PNG"), "image/png")},
    ).json()["data"]
    job_id = create_video(
        client,
        {**owner.headers, "Idempotency-Key": "erase-me"},
        "my private prompt [sim latency=2]",
        generationType="image_to_video",
        imageKey=upload["imageKey"],
        webhookUrl=f"http://127.0.0.1:9/{secrets.token_hex(4)}",
    )
    ledger_rows = _count(LedgerEntry, owner.account_id)

    early = admin("delete-account", owner.account_id, "--yes")
    assert early.exit_code == 1, early.output
    assert "still in flight" in early.output
    refused_as_unknown(client, owner)
    assert _job(job_id).prompt == "my private prompt [sim latency=2]"  # nothing erased yet

    finished = wait_for(
        lambda: (job := _job(job_id)).status in {JobStatus.COMPLETED, JobStatus.FAILED} and job,
        timeout_s=60,
        what="the disabled account's job to finish",
    )
    assert isinstance(finished, Job)
    assert finished.status is JobStatus.COMPLETED  # what it started before still finishes
    assert finished.video_key is not None
    storage = Path(stack.data_dir) / "storage"
    stored = [storage / finished.video_key, *(storage / "uploads" / owner.account_id).iterdir()]
    assert all(path.is_file() for path in stored)
    left = balance(owner.account_id)

    deleted = admin("delete-account", owner.account_id, "--yes", "--json")
    assert deleted.exit_code == 0, deleted.output
    assert json.loads(deleted.output)["state"] == "deleted"
    refused_as_unknown(client, owner)
    assert not any(path.exists() for path in stored)
    video = client.get(f"/api/files/{finished.video_key}")
    assert (video.status_code, video.json()["code"]) == (404, 1000)
    erased = _job(job_id)
    assert (erased.prompt, erased.image_key, erased.webhook_url) == ("", None, None)
    assert (erased.idempotency_key, erased.request_hash, erased.video_key) == (None, None, None)
    assert (erased.status, erased.credits_charged) == (JobStatus.COMPLETED, 2)
    for model in (ApiKey, Upload, WebhookDelivery, WebhookEndpoint):
        assert _count(model, owner.account_id) == 0, model
    assert _count(LedgerEntry, owner.account_id) == ledger_rows
    assert balance(owner.account_id) == left
    with read_session() as session:
        row = session.get(Account, owner.account_id)
    assert row is not None
    assert row.deleted_at is not None
    assert row.name == ""

    assert admin("delete-account", owner.account_id, "--yes").exit_code == 0  # runs again
    assert admin("enable-account", owner.account_id).exit_code == 1
    assert admin("add-credits", owner.account_id, "5").exit_code == 1
