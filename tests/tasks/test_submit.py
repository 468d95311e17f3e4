"""The submit step (worker/tasks/submit.py) against the in-memory upstream: each answer the
upstream can give is carried out on the row, the credits and the in-flight slot. A job comes to
it admitted by the dispatcher (tests/tasks/test_dispatch.py covers the admission), and goes
back to waiting as a row, never as a message, when the upstream refuses it for now."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from shared.constants import KEY_IN_FLIGHT, QUEUE_INPUTS, QUEUE_POLL, QUEUE_SUBMIT
from shared.db import write_session
from shared.errors import UpstreamPermanentError, UpstreamTransientError
from shared.job_options import default_credits
from shared.models import Job
from shared.quotas import acquire_slot
from shared.redis_client import get_redis, rkey
from shared.settings import Settings
from shared.timeutil import utcnow
from tests.support.broker import queued
from tests.support.fake_upstream import (
    FakeUpstream,
    quota_exceeded,
    rejected,
    retired_model,
    unavailable,
)
from tests.support.jobs import balance, reload_job
from tests.tasks.conftest import CREDITS, admit_waiting
from worker.tasks.decisions import GAVE_UP_REFUSED
from worker.tasks.dispatch import dispatch
from worker.tasks.submit import submit_job

PaidJob = Callable[..., Job]


def _holds_slot(job: Job) -> bool:
    return get_redis().zscore(rkey(KEY_IN_FLIGHT), job.id) is not None


def _no_messages() -> bool:
    return not any(queued(queue) for queue in (QUEUE_SUBMIT, QUEUE_INPUTS, QUEUE_POLL))


def test_an_accepted_submit_stores_the_operation_and_schedules_the_first_poll(
    paid_job: PaidJob, upstream: FakeUpstream, settings: Settings
) -> None:
    """The row holds the operation name, a first poll time and a deadline; the slot is held."""
    job = paid_job("a lighthouse at dusk")
    before = utcnow()
    assert admit_waiting() == [job.id]

    assert submit_job.run(job.id) == "processing"

    row = reload_job(job)
    assert (row.status, row.submit_attempts, row.poll_count) == ("processing", 1, 0)
    assert row.upstream_operation == upstream.operations[0]
    assert row.deadline_at is not None
    assert row.deadline_at - before >= timedelta(seconds=settings.job_deadline_s)
    assert [(r.prompt, r.aspect_ratio) for r in upstream.requests] == [
        ("a lighthouse at dusk", "16:9")
    ]
    assert _holds_slot(job)
    assert _no_messages()


def test_a_redelivered_submit_calls_the_upstream_once(
    paid_job: PaidJob, upstream: FakeUpstream
) -> None:
    """The second message finds the job no longer admitted and does nothing."""
    job = paid_job()
    admit_waiting()
    assert submit_job.run(job.id, job.id) == "1 processing, 1 skipped"
    assert submit_job.run(job.id) == "skipped"
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    ("refusal", "earliest_s", "latest_s"),
    [
        (quota_exceeded(retry_after_s=7), 7, 7),  # the upstream's Retry-After is a floor
        (quota_exceeded(retry_after_s=90), 90, 90),  # ...even above the 60 s cap
        (quota_exceeded(), 2 * 0.8, 2 * 1.2),  # none given: the first backoff step, jittered
        (unavailable(503), 2 * 0.8, 2 * 1.2),
    ],
)
def test_a_transient_refusal_returns_the_job_to_waiting_until_its_delay_is_over(
    paid_job: PaidJob,
    upstream: FakeUpstream,
    refusal: UpstreamTransientError | UpstreamPermanentError,
    earliest_s: float,
    latest_s: float,
) -> None:
    """The attempt stays counted, the slot is given back, no message is sent, and the
    dispatcher does not admit the job again before the delay."""
    job = paid_job()
    upstream.refuse_submits(refusal)
    admit_waiting()
    sent_at = utcnow()

    assert submit_job.run(job.id) == "retrying"

    row = reload_job(job)
    assert (row.status, row.submit_attempts, row.upstream_operation) == ("pending", 1, None)
    assert not _holds_slot(job)
    assert _no_messages()
    assert row.next_submit_at is not None
    delay_s = (row.next_submit_at - sent_at).total_seconds()
    assert earliest_s - 0.01 <= delay_s <= latest_s + 1.0  # + the time the step itself took
    assert admit_waiting() == []


def test_the_next_admission_is_the_next_attempt(paid_job: PaidJob, upstream: FakeUpstream) -> None:
    """After a refusal, once its delay is over, the job is admitted and submitted again, as
    attempt number two."""
    job = paid_job()
    upstream.refuse_submits(quota_exceeded())
    admit_waiting()
    assert submit_job.run(job.id) == "retrying"
    paid_job_due_now(job)
    assert admit_waiting() == [job.id]
    assert submit_job.run(job.id) == "processing"
    assert reload_job(job).submit_attempts == 2
    assert len(upstream.requests) == 2


@pytest.mark.parametrize(
    ("refusal", "code", "refunded"),
    [
        (rejected("upstream_error"), "upstream_error", True),
        (rejected("prompt_rejected", refund=False), "prompt_rejected", False),  # the user's own
        (retired_model(), "upstream_config", True),  # our configuration: never the user's cost
    ],
)
def test_a_permanent_refusal_fails_the_job_and_refunds_unless_it_was_the_users_fault(
    paid_job: PaidJob,
    upstream: FakeUpstream,
    settings: Settings,
    account_id: str,
    refusal: UpstreamTransientError | UpstreamPermanentError,
    code: str,
    refunded: bool,
) -> None:
    """The failure's code is recorded, the slot given back, and nothing resent."""
    job = paid_job()
    upstream.refuse_submits(refusal)
    admit_waiting()

    assert submit_job.run(job.id) == "failed"

    row = reload_job(job)
    assert (row.status, row.error_code, row.submit_attempts) == ("failed", code, 1)
    price = default_credits(settings)
    assert balance(account_id) == (CREDITS if refunded else CREDITS - price)
    assert not _holds_slot(job)
    assert _no_messages()


def test_a_job_out_of_attempts_fails_without_calling_the_upstream(
    paid_job: PaidJob, upstream: FakeUpstream, settings: Settings, account_id: str
) -> None:
    """Every attempt used: failed and refunded, with the reason the user reads."""
    job = paid_job(submit_attempts=settings.submit_max_attempts)
    admit_waiting()

    assert submit_job.run(job.id) == "failed"

    row = reload_job(job)
    assert (row.status, row.error_code, row.error_message) == (
        "failed",
        GAVE_UP_REFUSED.code,
        GAVE_UP_REFUSED.message,
    )
    assert upstream.requests == []
    assert balance(account_id) == CREDITS
    assert not _holds_slot(job)


def test_a_job_over_the_in_flight_cap_waits_as_a_pending_row(
    paid_job: PaidJob, upstream: FakeUpstream, configure: Callable[..., Settings]
) -> None:
    """No slot free: the job is not admitted, spends no attempt, and no message exists for it."""
    configure(upstream_max_in_flight=1)
    assert acquire_slot(get_redis(), rkey(KEY_IN_FLIGHT), "another-job", limit=1, ttl_s=60)
    job = paid_job()

    assert dispatch.run() == 0

    row = reload_job(job)
    assert (row.status, row.submit_attempts) == ("pending", 0)
    assert upstream.requests == []
    assert _no_messages()


def paid_job_due_now(job: Job) -> None:
    """Skip a refused job's retry delay (as if it had passed)."""
    with write_session() as session:
        due = utcnow() - timedelta(seconds=1)
        session.execute(update(Job).where(col(Job.id) == job.id).values(next_submit_at=due))
        session.commit()
