"""Paid calls that end in doubt or in an upstream failure (worker/tasks/submit.py, poll.py):
a submit the upstream never answered is not sent again blindly, an operation that failed on the
upstream's side is submitted anew once, and in every case the user pays for the job once."""

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from shared import counters
from shared.db import read_connection, write_session
from shared.job_options import default_credits
from shared.models import LEDGER, Job, WebhookDelivery
from shared.settings import Settings
from shared.timeutil import utcnow
from tests.support.fake_upstream import (
    RUNNING,
    FakeUpstream,
    finished,
    no_answer,
    operation_failed,
)
from tests.support.jobs import balance, reload_job
from tests.tasks.conftest import CREDITS, admit_waiting
from worker.tasks.poll import poll_due
from worker.tasks.submit import submit_job

PaidJob = Callable[..., Job]


def _unknown_submits() -> int:
    with read_connection() as connection:
        return counters.read(connection, [counters.UNKNOWN_SUBMITS])[counters.UNKNOWN_SUBMITS]


def _ledger(job: Job) -> list[str]:
    with read_connection() as connection:
        rows = connection.execute(
            select(LEDGER.c.kind).where(LEDGER.c.job_id == job.id).order_by(LEDGER.c.id)
        )
        return [row.kind for row in rows]


def _due_now(job: Job) -> None:
    """Skip a job's wait before its next admission (as if it had passed)."""
    with write_session() as session:
        due = utcnow() - timedelta(seconds=1)
        session.execute(update(Job).where(col(Job.id) == job.id).values(next_submit_at=due))
        session.commit()


def test_an_unanswered_submit_fails_the_job_refunded_and_is_counted(
    paid_job: PaidJob,
    upstream: FakeUpstream,
    settings: Settings,
    account_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The default policy: one call, never a second; the user gets the credits back, and the
    operator sees the count and a warning naming the job."""
    job = paid_job()
    upstream.refuse_submits(no_answer())
    admit_waiting()

    with caplog.at_level(logging.WARNING, logger="worker.tasks.submit"):
        assert submit_job.run(job.id) == "failed"

    row = reload_job(job)
    assert (row.status, row.error_code) == ("failed", "upstream_outcome_unknown")
    assert balance(account_id) == CREDITS
    assert _ledger(job) == ["debit", "refund"]
    assert len(upstream.requests) == 1
    assert admit_waiting() == []
    assert _unknown_submits() == 1
    assert any(
        record.levelno == logging.WARNING
        and job.id in record.getMessage()
        and "unknown outcome" in record.getMessage()
        for record in caplog.records
    )


def test_under_the_retry_policy_an_unanswered_submit_is_sent_again_and_charged_once(
    paid_job: PaidJob,
    upstream: FakeUpstream,
    configure: Callable[..., Settings],
    account_id: str,
) -> None:
    """VEO_UNKNOWN_SUBMIT_POLICY=retry: a second call, counted as a second attempt; the job
    completes and the user paid for it once."""
    settings = configure(unknown_submit_policy="retry")
    job = paid_job()
    upstream.refuse_submits(no_answer())
    admit_waiting()

    assert submit_job.run(job.id) == "retrying"
    assert reload_job(job).status == "pending"
    _due_now(job)
    assert admit_waiting() == [job.id]
    assert submit_job.run(job.id) == "processing"
    assert poll_due.run() == 1

    row = reload_job(job)
    assert (row.status, row.submit_attempts) == ("completed", 2)
    assert len(upstream.requests) == 2
    assert _unknown_submits() == 1
    assert balance(account_id) == CREDITS - default_credits(settings)
    assert _ledger(job) == ["debit"]


def test_an_operation_failed_upstream_is_submitted_anew_once_then_completes(
    paid_job: PaidJob, upstream: FakeUpstream, settings: Settings, account_id: str
) -> None:
    """google.rpc 13 on the first operation: back to waiting without it, a second submission
    (a second attempt), whose video completes the job; one debit, no refund."""
    job = paid_job()
    upstream.script_next_operation(operation_failed(13))
    upstream.script_next_operation(RUNNING, finished())
    admit_waiting()
    assert submit_job.run(job.id) == "processing"
    first = reload_job(job).upstream_operation

    assert poll_due.run() == 1
    row = reload_job(job)
    assert (row.status, row.upstream_operation, row.operation_resubmits) == ("pending", None, 1)

    _due_now(job)
    assert admit_waiting() == [job.id]
    assert submit_job.run(job.id) == "processing"
    assert reload_job(job).upstream_operation not in (None, first)
    assert poll_due.run() == 1
    assert poll_due.run() == 1

    row = reload_job(job)
    assert (row.status, row.submit_attempts, row.operation_resubmits) == ("completed", 2, 1)
    assert len(upstream.requests) == 2
    assert balance(account_id) == CREDITS - default_credits(settings)
    assert _ledger(job) == ["debit"]


def test_a_second_failed_operation_fails_the_job_refunded(
    paid_job: PaidJob, upstream: FakeUpstream, account_id: str
) -> None:
    """The resubmission is bounded: the second operation's failure is the job's."""
    job = paid_job()
    upstream.script_next_operation(operation_failed(14))
    upstream.script_next_operation(operation_failed(14))
    admit_waiting()
    assert submit_job.run(job.id) == "processing"
    assert poll_due.run() == 1
    _due_now(job)
    admit_waiting()
    assert submit_job.run(job.id) == "processing"
    assert poll_due.run() == 1

    row = reload_job(job)
    assert (row.status, row.error_code, row.submit_attempts) == ("failed", "upstream_failed", 2)
    assert len(upstream.requests) == 2
    assert balance(account_id) == CREDITS
    assert _ledger(job) == ["debit", "refund"]


def test_a_resubmitted_job_announces_processing_once(
    paid_job: PaidJob, upstream: FakeUpstream
) -> None:
    """The job enters `processing` twice; its owner asked for that event and gets it once."""
    job = paid_job(webhook_url="https://example.com/hook", webhook_events=["video.processing"])
    upstream.script_next_operation(operation_failed(8))
    upstream.script_next_operation(finished())
    admit_waiting()
    assert submit_job.run(job.id) == "processing"
    assert poll_due.run() == 1
    _due_now(job)
    admit_waiting()
    assert submit_job.run(job.id) == "processing"
    assert poll_due.run() == 1

    assert reload_job(job).status == "completed"
    with read_connection() as connection:
        events = connection.execute(
            select(col(WebhookDelivery.event_type)).where(col(WebhookDelivery.job_id) == job.id)
        ).scalars()
        assert sorted(events) == ["video.completed", "video.processing"]
