"""The poll step (worker/tasks/poll.py) against the in-memory upstream: one `poll_due` run is one
look at every due job, and each look's decision lands on the row, the credits, storage and the
in-flight slot."""

from collections.abc import Callable
from datetime import timedelta

import pytest

from shared.constants import KEY_IN_FLIGHT
from shared.db import write_session
from shared.estimates import forget_recent, record_durations
from shared.job_options import default_credits
from shared.models import Job
from shared.redis_client import get_redis, rkey
from shared.settings import Settings
from shared.states import JobStatus
from shared.storage import get_storage
from shared.timeutil import utcnow
from tests.support.fake_upstream import (
    RUNNING,
    VIDEO_BYTES,
    Answer,
    FakeUpstream,
    finished,
    generation_failed,
    quota_exceeded,
    rejected,
    unavailable,
)
from tests.support.jobs import balance, reload_job
from tests.tasks.conftest import CREDITS, admit_waiting
from worker.tasks.decisions import DEADLINE_EXCEEDED, early_window_s
from worker.tasks.poll import current_plan, poll_due
from worker.tasks.submit import submit_job

PaidJob = Callable[..., Job]


def _submitted(paid_job: PaidJob, upstream: FakeUpstream, *polls: Answer) -> Job:
    """A job the upstream accepted, whose operation will answer `polls` in turn."""
    job = paid_job()
    upstream.script_next_operation(*polls)
    assert admit_waiting() == [job.id]
    assert submit_job.run(job.id) == "processing"
    return job


def _holds_slot(job: Job) -> bool:
    return get_redis().zscore(rkey(KEY_IN_FLIGHT), job.id) is not None


def test_a_job_completes_on_the_look_that_finds_its_video(
    paid_job: PaidJob, upstream: FakeUpstream, settings: Settings, account_id: str
) -> None:
    """Two looks find it running and count themselves; the third stores the video."""
    job = _submitted(paid_job, upstream, RUNNING, RUNNING, finished())

    for looks in (1, 2):
        assert poll_due.run() == 1
        row = reload_job(job)
        assert (row.status, row.poll_count) == ("processing", looks)
    assert poll_due.run() == 1

    row = reload_job(job)
    assert (row.status, row.video_bytes) == ("completed", len(VIDEO_BYTES))
    assert row.video_key is not None
    assert get_storage().read_bytes(row.video_key, 1024) == VIDEO_BYTES
    assert row.next_poll_at is None
    assert not _holds_slot(job)
    assert balance(account_id) == CREDITS - default_credits(settings)
    assert poll_due.run() == 0  # nothing left to look at


def test_the_predictive_schedule_places_the_next_look_by_the_time_the_job_has_run(
    paid_job: PaidJob, upstream: FakeUpstream, configure: Callable[..., Settings]
) -> None:
    """A job 60 s into its generation is looked at again when the plan fitted to recent jobs
    says, not after the geometric step."""
    settings = configure(poll_schedule="predictive", poll_history_settle_s=0)
    assert current_plan(settings) is None  # too few finished jobs: the geometric series
    record_durations([50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 65.0, 75.0])
    forget_recent()
    job = _submitted(paid_job, upstream, RUNNING)
    started = utcnow() - timedelta(seconds=60)
    with write_session() as session:
        row = session.get(Job, job.id)
        assert row is not None
        row.processing_at = started
        session.add(row)
        session.commit()

    looked_at = utcnow()
    assert poll_due.run() == 1
    expected = current_plan(settings)
    assert expected is not None
    row = reload_job(job)
    assert row.next_poll_at is not None
    elapsed = (looked_at - started).total_seconds()
    delay = (row.next_poll_at - looked_at).total_seconds()
    # The look happened within a second of `looked_at`; the plan's interval changes slowly.
    assert delay == pytest.approx(expected.next_delay_s(elapsed), abs=1.0)
    assert delay != pytest.approx(settings.poll_first_delay_s, abs=1.0)


@pytest.mark.parametrize(
    ("answer", "code", "refunded"),
    [
        (generation_failed("content_blocked"), "content_blocked", True),
        (generation_failed("prompt_rejected", refund=False), "prompt_rejected", False),
        (rejected("upstream_lost"), "upstream_lost", True),  # the operation is gone
    ],
)
def test_a_failed_operation_fails_the_job_and_refunds_unless_it_was_the_users_fault(
    paid_job: PaidJob,
    upstream: FakeUpstream,
    settings: Settings,
    account_id: str,
    answer: Answer,
    code: str,
    refunded: bool,
) -> None:
    """The upstream's verdict (or a permanent error) is the job's failure."""
    job = _submitted(paid_job, upstream, answer)

    assert poll_due.run() == 1

    row = reload_job(job)
    assert (row.status, row.error_code, row.next_poll_at) == ("failed", code, None)
    price = default_credits(settings)
    assert balance(account_id) == (CREDITS if refunded else CREDITS - price)
    assert not _holds_slot(job)


def test_a_transient_poll_error_waits_at_least_its_retry_after(
    paid_job: PaidJob, upstream: FakeUpstream, settings: Settings
) -> None:
    """The next look is scheduled no sooner than Retry-After plus the early-claim window."""
    job = _submitted(paid_job, upstream, quota_exceeded(retry_after_s=30))
    looked_at = utcnow()

    assert poll_due.run() == 1

    row = reload_job(job)
    assert (row.status, row.poll_count) == ("processing", 1)
    assert row.next_poll_at is not None
    wait_s = (row.next_poll_at - looked_at).total_seconds()
    assert 30 + early_window_s(settings) <= wait_s <= 31 + early_window_s(settings)
    assert poll_due.run() == 0  # not due again yet


def test_a_job_past_its_deadline_fails_without_a_look(
    paid_job: PaidJob, upstream: FakeUpstream, account_id: str
) -> None:
    """The deadline is checked before the upstream is asked; the job is refunded."""
    job = _submitted(paid_job, upstream, RUNNING)
    with write_session() as session:
        session.get_one(Job, job.id).deadline_at = utcnow() - timedelta(seconds=1)
        session.commit()

    assert poll_due.run() == 1

    row = reload_job(job)
    assert (row.status, row.error_code) == ("failed", DEADLINE_EXCEEDED.code)
    assert upstream.polls.total() == 0
    assert balance(account_id) == CREDITS


def test_a_failed_download_is_looked_at_again(paid_job: PaidJob, upstream: FakeUpstream) -> None:
    """A transient download error reschedules the job; the next look stores the video."""
    job = _submitted(paid_job, upstream, finished())
    upstream.fail_downloads(unavailable(502))

    assert poll_due.run() == 1
    assert reload_job(job).status == "processing"
    assert poll_due.run() == 1
    assert reload_job(job).status == "completed"
    assert len(upstream.downloads) == 2


def test_a_video_over_the_size_cap_fails_the_job(
    paid_job: PaidJob, upstream: FakeUpstream, configure: Callable[..., Settings]
) -> None:
    """The download's own limit decides: failed with the adapter's code, nothing stored."""
    job = _submitted(paid_job, upstream, finished())
    configure(video_max_bytes=len(VIDEO_BYTES) - 1)

    assert poll_due.run() == 1

    row = reload_job(job)
    assert (row.status, row.error_code, row.video_key) == ("failed", "video_too_large", None)


def test_one_run_carries_out_each_jobs_own_decision(
    paid_job: PaidJob, upstream: FakeUpstream
) -> None:
    """Rescheduled, completed and failed jobs of one batch are written together."""
    running = _submitted(paid_job, upstream, RUNNING)
    done = _submitted(paid_job, upstream, finished())
    blocked = _submitted(paid_job, upstream, generation_failed())

    assert poll_due.run() == 3

    statuses = [reload_job(job).status for job in (running, done, blocked)]
    assert statuses == [JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED]
    assert reload_job(running).poll_count == 1
