"""Cancelling a job (shared/cancellation.py) at every point of its life, in-process against the
in-memory upstream: what its owner gets back, what the tasks then do with it, and the races
with the workers' own moves, where exactly one move wins and the credits come back at most once.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from shared.cancellation import cancel_job
from shared.constants import KEY_IN_FLIGHT
from shared.db import read_session, write_session
from shared.errors import InvalidParameters, NotFound
from shared.job_options import default_credits
from shared.lifecycle import Failure, complete_job, fail_job
from shared.models import Job, LedgerEntry
from shared.redis_client import get_redis, rkey
from shared.settings import Settings
from shared.states import JobStatus
from shared.storage import get_storage
from tests.support.fake_upstream import RUNNING, FakeUpstream, finished
from tests.support.jobs import balance, reload_job
from tests.support.race import race
from tests.tasks.conftest import CREDITS, admit_waiting
from worker.tasks.poll import poll_due
from worker.tasks.submit import submit_job
from worker.upstream.base import SubmitRequest, VideoRef

PaidJob = Callable[..., Job]


def _refunds(job: Job) -> int:
    with read_session() as session:
        return int(
            session.execute(
                select(func.count()).where(
                    col(LedgerEntry.job_id) == job.id, col(LedgerEntry.kind) == "refund"
                )
            ).scalar_one()
        )


def _holds_slot(job: Job) -> bool:
    return get_redis().zscore(rkey(KEY_IN_FLIGHT), job.id) is not None


def _processing(paid_job: PaidJob, upstream: FakeUpstream, *polls: Any) -> Job:
    job = paid_job()
    upstream.script_next_operation(*polls)
    assert admit_waiting() == [job.id]
    assert submit_job.run(job.id) == "processing"
    return job


def test_a_waiting_job_is_cancelled_refunded_and_never_admitted(
    paid_job: PaidJob, settings: Settings, account_id: str, upstream: FakeUpstream
) -> None:
    job = paid_job()
    assert balance(account_id) == CREDITS - default_credits(settings)

    data = cancel_job(account_id, job.id)

    assert (data["status"], data["queuePosition"], data["completedAt"] is not None) == (
        "cancelled",
        None,
        True,
    )
    assert balance(account_id) == CREDITS
    assert admit_waiting() == []
    assert upstream.requests == []
    assert reload_job(job).cancelled_at is not None


def test_an_admitted_job_is_refunded_its_slot_given_back_and_its_message_ignored(
    paid_job: PaidJob, account_id: str, upstream: FakeUpstream
) -> None:
    job = paid_job()
    assert admit_waiting() == [job.id]
    assert _holds_slot(job)

    cancel_job(account_id, job.id)

    assert not _holds_slot(job)
    assert balance(account_id) == CREDITS
    assert submit_job.run(job.id) == "skipped"
    assert upstream.requests == []


def test_a_processing_job_is_not_refunded_and_no_longer_polled(
    paid_job: PaidJob, settings: Settings, account_id: str, upstream: FakeUpstream
) -> None:
    job = _processing(paid_job, upstream, RUNNING, finished())

    assert cancel_job(account_id, job.id)["status"] == "cancelled"

    assert balance(account_id) == CREDITS - default_credits(settings)
    assert not _holds_slot(job)
    assert poll_due.run() == 0
    assert upstream.polls[upstream.operations[0]] == 0
    assert reload_job(job).status == JobStatus.CANCELLED


def test_a_finished_job_answers_1000_and_keeps_its_state(
    paid_job: PaidJob, account_id: str, upstream: FakeUpstream
) -> None:
    job = _processing(paid_job, upstream, finished())
    assert poll_due.run() == 1

    with pytest.raises(InvalidParameters) as refused:
        cancel_job(account_id, job.id)

    assert refused.value.code == 1000
    assert refused.value.data == {
        "field": "uuid",
        "reason": "the video is already completed: only a pending or processing video can be"
        " cancelled",
    }
    assert reload_job(job).status == JobStatus.COMPLETED


def test_another_accounts_job_is_not_found(paid_job: PaidJob, settings: Settings) -> None:
    job = paid_job()
    with pytest.raises(NotFound):
        cancel_job("acct_someone_else", job.id)
    assert reload_job(job).status == JobStatus.PENDING


def test_a_job_cancelled_during_its_submit_keeps_the_operation_and_discards_it(
    paid_job: PaidJob, account_id: str, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paid call is under way (public status `pending`) when its owner cancels: refunded;
    the operation the upstream then returns is noted on the row, never polled."""
    job = paid_job()
    accept = upstream.submit

    async def cancelled_meanwhile(request: SubmitRequest) -> str:
        cancel_job(account_id, job.id)
        return await accept(request)

    monkeypatch.setattr(upstream, "submit", cancelled_meanwhile)
    assert admit_waiting() == [job.id]

    assert submit_job.run(job.id) == "cancelled"

    row = reload_job(job)
    assert (row.status, row.upstream_operation) == (JobStatus.CANCELLED, upstream.operations[0])
    assert balance(account_id) == CREDITS
    assert poll_due.run() == 0


def test_a_video_fetched_for_a_job_cancelled_meanwhile_is_deleted(
    paid_job: PaidJob,
    settings: Settings,
    account_id: str,
    upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cancel against completion: the poller found the video and is storing it when the owner
    cancels. The cancel wins; the completion changes nothing and its file is removed."""
    job = _processing(paid_job, upstream, finished())
    fetch = upstream.download

    async def cancelled_meanwhile(video: VideoRef, dest: Path, *, max_bytes: int) -> int:
        cancel_job(account_id, job.id)
        return await fetch(video, dest, max_bytes=max_bytes)

    monkeypatch.setattr(upstream, "download", cancelled_meanwhile)

    assert poll_due.run() == 1

    row = reload_job(job)
    assert (row.status, row.video_key) == (JobStatus.CANCELLED, None)
    assert not get_storage().path(f"videos/{job.id}.mp4").exists()  # type: ignore[attr-defined]
    assert _refunds(job) == 0
    assert balance(account_id) == CREDITS - default_credits(settings)


def _won(result: object) -> bool:
    return result is True or isinstance(result, dict)


@pytest.mark.parametrize("round_", range(6))
def test_cancel_racing_completion_one_wins_and_nothing_is_refunded(
    paid_job: PaidJob, settings: Settings, account_id: str, upstream: FakeUpstream, round_: int
) -> None:
    job = _processing(paid_job, upstream, RUNNING)

    def complete() -> bool:
        with write_session() as session:
            return complete_job(session, job, video_key=f"videos/{job.id}.mp4", video_bytes=1)

    results = race(lambda: cancel_job(account_id, job.id), complete)

    assert [_won(result) for result in results].count(True) == 1, results
    status = reload_job(job).status
    assert status == (JobStatus.CANCELLED if _won(results[0]) else JobStatus.COMPLETED)
    if not _won(results[0]):
        assert isinstance(results[0], InvalidParameters)  # "already completed": a 1000
    assert _refunds(job) == 0
    assert balance(account_id) == CREDITS - default_credits(settings)


@pytest.mark.parametrize("round_", range(6))
def test_cancel_racing_a_refunded_failure_refunds_exactly_once(
    paid_job: PaidJob, settings: Settings, account_id: str, round_: int
) -> None:
    """Both moves refund a waiting job: whichever wins, its credits come back once."""
    job = paid_job()
    failure = Failure("upstream_error", "refused", refund=True)

    def fail() -> bool:
        with write_session() as session:
            return fail_job(session, job, failure)

    results = race(lambda: cancel_job(account_id, job.id), fail)

    assert [_won(result) for result in results].count(True) == 1, results
    assert _refunds(job) == 1
    assert balance(account_id) == CREDITS
