"""Which jobs a poll tick claims (worker/tasks/poll_claims.py): those due by the middle of the next
tick, so polls land on average on their due time, not half a tick after it."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from shared.db import write_session
from shared.models import Job
from shared.settings import get_settings
from shared.states import JobStatus
from shared.timeutil import utcnow
from tests.conftest import AccountInfo
from tests.support.jobs import insert_paid_job, reload_job
from worker.tasks.decisions import early_window_s, next_poll_delay_s
from worker.tasks.poll_claims import claim_due

# On a database no worker serves: a poll tick of the session's workers would claim these jobs.
pytestmark = pytest.mark.usefixtures("quiet_stack")


def _processing(account_id: str, due_in_s: float) -> Job:
    job = insert_paid_job(account_id)
    with write_session() as session:
        session.execute(
            update(Job)
            .where(col(Job.id) == job.id)
            .values(
                status=JobStatus.PROCESSING.value,
                upstream_operation=f"models/veo/operations/{job.id}",
                next_poll_at=utcnow() + timedelta(seconds=due_in_s),
            )
        )
        session.commit()
    return job


def _next_poll_at(job: Job) -> object:
    return reload_job(job).next_poll_at


def test_a_tick_claims_jobs_due_within_half_a_tick_and_no_later_ones(
    account: Callable[..., AccountInfo],
) -> None:
    assert early_window_s(get_settings()) == get_settings().poll_tick_s / 2 > 0.1
    info = account(credits=10)
    soon, later = _processing(info.account_id, 0.1), _processing(info.account_id, 5.0)
    scheduled = {job.id: _next_poll_at(job) for job in (soon, later)}
    with write_session() as session:
        claimed = {c.job_id for c in claim_due(session, 10_000)}
    assert soon.id in claimed
    assert later.id not in claimed
    assert _next_poll_at(later) == scheduled[later.id]


def test_a_retry_after_is_never_cut_short_by_an_early_claim() -> None:
    settings = get_settings()
    for retry_after_s in (0.0, 3.0, 40.0):
        assert next_poll_delay_s(0, retry_after_s, settings) >= retry_after_s + early_window_s(
            settings
        )
