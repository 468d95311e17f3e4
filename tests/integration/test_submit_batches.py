"""Jobs admitted together share one submit message (shared.queueing.enqueue_submits), and a
worker submits them one after another (worker/tasks/submit.py): each job is still submitted
exactly once, and a batch that runs long hands its remaining jobs on instead of nearing the
task's time limits."""

import secrets
from collections.abc import Callable

import pytest

from devtools.processes import wait_for
from shared.models import Job
from shared.queueing import even_chunks
from tests.conftest import AccountInfo, Workers
from tests.support.api import submissions
from tests.support.jobs import insert_paid_job, reload_job
from worker.tasks import submit
from worker.tasks.submit import submit_job


def _jobs(account_id: str, count: int) -> list[Job]:
    tag = secrets.token_hex(4)
    return [insert_paid_job(account_id, f"batch {tag} #{i}", admitted=True) for i in range(count)]


def _status(job: Job) -> str:
    return reload_job(job).status


@pytest.mark.usefixtures("quiet_stack")  # no sweeper resends these jobs meanwhile
def test_a_batch_submits_each_of_its_jobs_once(
    account: Callable[..., AccountInfo], simulator_url: str
) -> None:
    jobs = _jobs(account(credits=100).account_id, 3)
    ids = [job.id for job in jobs]
    unknown = "00000000-0000-4000-8000-000000000000"

    assert submit_job.run(*ids, unknown) == "3 processing, 1 skipped"
    assert [_status(job) for job in jobs] == ["processing"] * 3
    assert [submissions(simulator_url, job.prompt) for job in jobs] == [1, 1, 1]

    # The same message again (a redelivery, or the sweeper's resend): nothing is submitted twice.
    assert submit_job.run(*ids) == "3 skipped"
    assert [submissions(simulator_url, job.prompt) for job in jobs] == [1, 1, 1]


def test_a_batch_past_its_budget_hands_its_other_jobs_on(
    account: Callable[..., AccountInfo],
    simulator_url: str,
    workers: Workers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jobs = _jobs(account(credits=100).account_id, 3)
    monkeypatch.setattr(submit, "BATCH_BUDGET_S", 0.0)

    assert submit_job.run(*(job.id for job in jobs)) == "1 processing, 2 handed on"
    # The first was submitted here; the others by whichever worker took the new message.
    assert _status(jobs[0]) == "processing"
    waiting = {"admitted", "submitting"}
    wait_for(lambda: all(_status(job) not in waiting for job in jobs[1:]), timeout_s=30)
    assert [submissions(simulator_url, job.prompt) for job in jobs] == [1, 1, 1]


def test_jobs_accepted_together_are_split_evenly_in_order() -> None:
    ids = [f"job-{i}" for i in range(17)]
    chunks = even_chunks(ids, 8)
    assert [len(chunk) for chunk in chunks] == [6, 6, 5]
    assert [i for chunk in chunks for i in chunk] == ids
    assert even_chunks(ids[:8], 8) == [ids[:8]]
    assert even_chunks(ids[:3], 1) == [[i] for i in ids[:3]]
    assert even_chunks(ids[:3], 0) == [[i] for i in ids[:3]]  # a misconfigured 0 acts as 1
