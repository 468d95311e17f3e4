"""A cancel racing the workers' moves on the real databases (SQLite and PostgreSQL, where the two
transactions truly overlap): exactly one move wins, and the credits come back at most once."""

from collections.abc import Callable
from functools import partial

import pytest
from sqlalchemy import func, select

from shared.cancellation import cancel_job
from shared.db import read_connection, write_session
from shared.errors import InvalidParameters
from shared.lifecycle import Failure, advance, complete_job, fail_job
from shared.models import JOBS, LEDGER, Job
from shared.states import JobStatus
from tests.conftest import AccountInfo
from tests.support.jobs import balance, insert_paid_job, reload_job
from tests.support.race import race

pytestmark = pytest.mark.usefixtures("quiet_stack")
ROUNDS = 10
PRICE = 2


def _refunds(account_id: str) -> int:
    with read_connection() as connection:
        return int(
            connection.execute(
                select(func.count()).where(
                    LEDGER.c.account_id == account_id, LEDGER.c.kind == "refund"
                )
            ).scalar_one()
        )


def _processing(account_id: str) -> Job:
    job = insert_paid_job(account_id, credits=PRICE)
    with write_session() as session:
        session.execute(
            JOBS.update().where(JOBS.c.id == job.id).values(status=JobStatus.SUBMITTING.value)
        )
        assert advance(session, job, JobStatus.PROCESSING, upstream_operation=f"op/{job.id}")
    return job


def _won(result: object) -> bool:
    return result is True or isinstance(result, dict)


def test_cancel_racing_completion(account: Callable[..., AccountInfo]) -> None:
    info = account(credits=PRICE * ROUNDS)
    for _ in range(ROUNDS):
        job = _processing(info.account_id)

        def complete(job: Job = job) -> bool:
            with write_session() as session:
                return complete_job(session, job, video_key=f"videos/{job.id}.mp4", video_bytes=1)

        results = race(partial(cancel_job, info.account_id, job.id), complete)
        assert [_won(result) for result in results].count(True) == 1, results
        cancelled = _won(results[0])
        assert cancelled != isinstance(results[0], InvalidParameters)  # the loser: a 1000
        expected = JobStatus.CANCELLED if cancelled else JobStatus.COMPLETED
        assert reload_job(job).status == expected
    assert _refunds(info.account_id) == 0  # a processing job's cancel is not refunded
    assert balance(info.account_id) == 0


def test_cancel_racing_a_refunded_failure_of_a_waiting_job(
    account: Callable[..., AccountInfo],
) -> None:
    info = account(credits=PRICE * ROUNDS)
    failure = Failure("upstream_error", "refused", refund=True)
    for _ in range(ROUNDS):
        job = insert_paid_job(info.account_id, credits=PRICE)

        def fail(job: Job = job) -> bool:
            with write_session() as session:
                return fail_job(session, job, failure)

        results = race(partial(cancel_job, info.account_id, job.id), fail)
        assert [_won(result) for result in results].count(True) == 1, results
    assert _refunds(info.account_id) == ROUNDS  # one per job, whichever move won
    assert balance(info.account_id) == PRICE * ROUNDS
