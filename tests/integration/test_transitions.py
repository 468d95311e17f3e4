"""The compare-and-set transition and the refund-once rule, on SQLite and PostgreSQL."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlmodel import col

from shared.db import read_session, write_session
from shared.lifecycle import Failure, fail_job
from shared.models import Job, LedgerEntry
from shared.states import JobStatus
from shared.transitions import transition
from tests.conftest import AccountInfo
from tests.support.jobs import balance, insert_paid_job

# On a database no worker serves: the session's sweeper would resend our pending jobs.
pytestmark = pytest.mark.usefixtures("quiet_stack")


def test_only_one_of_many_racing_transitions_wins(account: Callable[..., AccountInfo]) -> None:
    job = insert_paid_job(account(credits=10).account_id)
    with write_session() as session:
        assert transition(session, job.id, JobStatus.ADMITTED)
        session.commit()

    def attempt(_: int) -> bool:
        with write_session() as session:
            moved = transition(
                session,
                job.id,
                JobStatus.SUBMITTING,
                guard={"submit_attempts": 0},
                submit_attempts=1,
            )
            session.commit()
            return moved

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(16)))
    assert results.count(True) == 1


def test_terminal_states_do_not_change(account: Callable[..., AccountInfo]) -> None:
    job = insert_paid_job(account(credits=10).account_id)
    with write_session() as session:
        assert fail_job(session, job, Failure("x", "boom"))
    for target in (JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED):
        with write_session() as session:
            assert not transition(session, job.id, target)
            session.commit()
    with read_session() as session:
        assert session.get(Job, job.id).status == JobStatus.FAILED  # type: ignore[union-attr]


def test_a_failed_job_is_refunded_exactly_once_even_when_failed_concurrently(
    account: Callable[..., AccountInfo],
) -> None:
    info = account(credits=10)
    job = insert_paid_job(info.account_id, credits=4)
    assert balance(info.account_id) == 6

    def fail(_: int) -> bool:
        with write_session() as session:
            return fail_job(session, job, Failure("upstream_error", "boom"))

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(fail, range(12))).count(True) == 1
    assert balance(info.account_id) == 10
    with read_session() as session:
        kinds = (
            session.execute(select(LedgerEntry.kind).where(col(LedgerEntry.job_id) == job.id))
            .scalars()
            .all()
        )
    assert sorted(kinds) == ["debit", "refund"]


def test_the_users_fault_is_not_refunded(account: Callable[..., AccountInfo]) -> None:
    info = account(credits=10)
    job = insert_paid_job(info.account_id, credits=2)
    with write_session() as session:
        assert fail_job(session, job, Failure("invalid_image", "bad image", refund=False))
    assert balance(info.account_id) == 8
