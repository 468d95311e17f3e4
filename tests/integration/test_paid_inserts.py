"""Concurrent submits' rows are inserted as one batch (shared.credits.insert_paid_jobs): each
job still gets the answer it would have got alone, and no credit is taken twice or not at all."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from shared.credits import insert_paid_jobs
from shared.db import is_postgresql, read_session
from shared.errors import InsufficientCredits
from shared.models import Job, LedgerEntry, new_job_row
from tests.conftest import AccountInfo
from tests.support.jobs import balance, reload_job

# On a database no worker serves: the session's sweeper would resend our pending jobs.
pytestmark = pytest.mark.usefixtures("quiet_stack")


def _row(account_id: str, credits: int = 2, idempotency_key: str | None = None) -> dict:
    return new_job_row(
        account_id=account_id,
        generation_type="text_to_video",
        prompt="p",
        aspect_ratio="16:9",
        credits_charged=credits,
        idempotency_key=idempotency_key,
    )


def _stored(job_ids: list[str]) -> tuple[set[str], int]:
    """Which of these jobs exist, and how many debit ledger rows they have."""
    with read_session() as session:
        jobs = set(session.execute(select(col(Job.id)).where(col(Job.id).in_(job_ids))).scalars())
        debits = session.execute(
            select(func.count()).where(
                col(LedgerEntry.job_id).in_(job_ids), col(LedgerEntry.kind) == "debit"
            )
        ).scalar_one()
    return jobs, debits


def test_a_batch_that_every_account_can_pay_is_written_whole(
    account: Callable[..., AccountInfo],
) -> None:
    first, second = account(credits=10), account(credits=10)
    rows = [_row(first.account_id), _row(second.account_id, 3), _row(first.account_id, 4)]
    assert insert_paid_jobs(rows) == [None, None, None]
    assert (balance(first.account_id), balance(second.account_id)) == (4, 7)
    assert _stored([r["id"] for r in rows]) == ({r["id"] for r in rows}, 3)


def test_jobs_an_account_cannot_pay_for_are_refused_one_by_one_in_order(
    account: Callable[..., AccountInfo],
) -> None:
    short, rich = account(credits=5), account(credits=100)
    rows = [
        _row(short.account_id),
        _row(rich.account_id),
        _row(short.account_id),
        _row(short.account_id),  # 6 > 5: refused
        _row(short.account_id, 1),  # still fits
    ]
    answers = insert_paid_jobs(rows)
    assert [a is None for a in answers] == [True, True, True, False, True]
    refused = answers[3]
    assert isinstance(refused, InsufficientCredits)
    assert refused.data == {"required": 2, "current": 1}
    assert (balance(short.account_id), balance(rich.account_id)) == (0, 98)
    accepted = [r["id"] for r, a in zip(rows, answers, strict=True) if a is None]
    assert _stored([r["id"] for r in rows]) == (set(accepted), 4)


def test_a_reused_idempotency_key_in_a_batch_fails_only_its_second_job(
    account: Callable[..., AccountInfo],
) -> None:
    info = account(credits=10)
    rows = [_row(info.account_id, idempotency_key="k"), _row(info.account_id)]
    rows.insert(1, _row(info.account_id, idempotency_key="k"))
    answers = insert_paid_jobs(rows)
    assert answers[0] is None
    assert isinstance(answers[1], IntegrityError)
    assert answers[2] is None
    assert balance(info.account_id) == 6  # two jobs paid, the conflicting one not
    assert _stored([r["id"] for r in rows]) == ({rows[0]["id"], rows[2]["id"]}, 2)


def test_a_batch_stores_every_column_as_given(account: Callable[..., AccountInfo]) -> None:
    info = account(credits=10)
    rich = new_job_row(
        account_id=info.account_id,
        generation_type="image_to_video",
        prompt='a 🦊 in "snow" \\ — ünïcødé',
        aspect_ratio="9:16",
        image_url="https://example.com/fox.png",
        credits_charged=3,
        idempotency_key="key-1",
        request_hash="h" * 64,
        webhook_url="https://example.com/hook",
        webhook_events=["video.completed", "video.failed"],
    )
    rows = [rich, _row(info.account_id)]
    assert insert_paid_jobs(rows) == [None, None]
    for row in rows:
        assert reload_job(Job(**row)).model_dump() == row


def test_batches_locking_the_same_accounts_in_either_order_all_commit(
    account: Callable[..., AccountInfo],
) -> None:
    """Two gateways' batches of the same accounts, listed in opposite orders, at once: each
    locks the accounts in one order, so none waits for the other forever (PostgreSQL would
    abort one as a deadlock)."""
    first, second = account(credits=1_000), account(credits=1_000)
    rounds = 40 if is_postgresql() else 10

    def batch(ids: tuple[str, str]) -> list[Exception | None]:
        return insert_paid_jobs([_row(ids[0], 1), _row(ids[1], 1), _row(ids[0], 1)])

    orders = [(first.account_id, second.account_id), (second.account_id, first.account_id)]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(batch, orders * rounds))
    assert all(answer == [None, None, None] for answer in answers)
    # Each account paid for two jobs in one order's batches and one in the other's.
    assert balance(first.account_id) == balance(second.account_id) == 1_000 - 3 * rounds


def test_a_batch_keeps_each_jobs_options(account: Callable[..., AccountInfo]) -> None:
    """The options column travels whole in the batch (as JSON inside JSON on PostgreSQL)."""
    info = account(credits=10)
    options = {"model": "veo-3.1", "seed": 7, "referenceImages": [{"imageKey": "img_a"}]}
    rows = [{**_row(info.account_id), "options": options}, _row(info.account_id)]
    assert insert_paid_jobs(rows) == [None, None]
    with read_session() as session:
        stored = [session.get(Job, row["id"]) for row in rows]
    assert [job.options if job else "missing" for job in stored] == [options, None]
