"""`veo-admin delete-account`: erase what an account put in, keep what the books need.

Erased: its API keys, its uploads (rows and bytes), its stored videos, its webhook endpoints and
deliveries (their payloads repeat the jobs), what it wrote on each job row (the columns
shared/erasure.py erases when its owner deletes one job), its name and webhook
settings, and the jobs' mirrored statuses in Redis. Kept: the account row (id, credits, dates),
each job row's id, type, status, charge, upstream operation and dates, and every ledger row, so
the balance and the upstream bill still add up.

The account is disabled first, in a commit of its own, so its keys are refused before anything
is erased. A job still in flight needs its prompt and image to reach the upstream: while the
account has one, nothing is erased and the command says so (run it again once they finished).
Files go before rows, so a storage error leaves the rows that name them for the next run.
"""

from typing import Annotated

import typer
from sqlalchemy import delete, func, select, update
from sqlmodel import col

from admin.accounts import disable
from admin.keys import ACCOUNT_KEYS_STILL_CACHED
from admin.output import JsonFlag, cache_not_told, fail, report, warn_cache_not_told
from admin.records import account_or_fail
from shared import status_cache
from shared.db import read_session, write_session
from shared.erasure import ERASED_JOB_COLUMNS, erase_files
from shared.models import (
    ApiKey,
    Job,
    Upload,
    WebhookDelivery,
    WebhookEndpoint,
    new_webhook_secret,
    video_files,
)
from shared.redis_client import delete_keys
from shared.states import TERMINAL
from shared.timeutil import utcnow


def _in_flight(account_id: str) -> int:
    with read_session() as session:
        return int(
            session.execute(
                select(func.count())
                .select_from(Job)
                .where(
                    col(Job.account_id) == account_id,
                    col(Job.status).not_in([status.value for status in TERMINAL]),
                )
            ).scalar_one()
        )


def _stored_files(account_id: str) -> tuple[list[str], list[str], list[str]]:
    """(upload storage keys, video storage keys, job ids) of the account."""
    with read_session() as session:
        uploads = session.execute(select(Upload).where(col(Upload.account_id) == account_id))
        upload_keys = [upload.storage_key for upload in uploads.scalars()]
        jobs = session.execute(
            select(col(Job.id), col(Job.video_key), col(Job.video_keys)).where(
                col(Job.account_id) == account_id
            )
        ).all()
    videos = [key for _, first, every in jobs for key in video_files(first, every)]
    return upload_keys, videos, [job_id for job_id, _, _ in jobs]


def _erase_rows(account_id: str) -> None:
    with write_session() as session:
        for model in (ApiKey, Upload, WebhookDelivery, WebhookEndpoint):
            session.execute(delete(model).where(col(model.account_id) == account_id))
        session.execute(
            update(Job).where(col(Job.account_id) == account_id).values(**ERASED_JOB_COLUMNS)
        )
        account = account_or_fail(session, account_id, deleted_ok=True)
        account.name = ""
        account.webhook_url = None
        account.webhook_secret = new_webhook_secret()
        account.webhook_secret_previous = None
        account.webhook_secret_previous_until = None
        account.deleted_at = account.deleted_at or utcnow()
        session.add(account)
        session.commit()


def delete_account(
    account_id: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Refuse the account's keys at once and erase its data; its ledger rows stay."""
    if not yes:
        typer.confirm(f"Erase account {account_id}'s keys, files and prompts?", abort=True)
    told = disable(account_id, deleted_ok=True)
    waiting = _in_flight(account_id)
    if waiting:
        if not told:
            warn_cache_not_told(ACCOUNT_KEYS_STILL_CACHED)
        fail(
            f"account {account_id} is disabled (its keys are refused), but {waiting} of its jobs"
            " are still in flight: nothing was erased; run delete-account again once they finished"
        )
    upload_keys, video_keys, job_ids = _stored_files(account_id)
    erase_files([*upload_keys, *video_keys])
    _erase_rows(account_id)
    delete_keys([status_cache.entry_key(job_id) for job_id in job_ids])  # they expire anyway
    erased = {
        "account_id": account_id,
        "state": "deleted",
        "uploads": len(upload_keys),
        "videos": len(video_keys),
        "jobs": len(job_ids),
    }
    report(
        as_json,
        erased,
        f"account {account_id} deleted: {len(upload_keys)} uploads, {len(video_keys)} videos and"
        f" the prompts of {len(job_ids)} jobs erased; its ledger rows are kept",
    )
    if not told:
        cache_not_told(ACCOUNT_KEYS_STILL_CACHED)
