"""`veo-admin delete-account` against the running pipeline: it waits for the account's jobs in
flight (which finish although the account is disabled), then erases what the account put in,
files included, while its ledger rows stay."""

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from devtools.processes import wait_for
from shared.db import read_session
from shared.models import (
    Account,
    ApiKey,
    Job,
    LedgerEntry,
    Upload,
    WebhookDelivery,
    WebhookEndpoint,
)
from shared.states import JobStatus
from tests.conftest import AccountInfo, Stack, Workers
from tests.support.admin import admin, refused_as_unknown
from tests.support.api import create_video, signed_file_path, upload_image
from tests.support.jobs import balance

pytestmark = pytest.mark.e2e


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
    upload = upload_image(client, owner.headers)
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
    video = client.get(signed_file_path(finished.video_key))
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
