"""Rows written straight to the database, as the gateway would, for tests that need a paid job
without a request (or without the message a request would publish)."""

from shared.credits import insert_paid_job as pay_and_insert
from shared.db import read_session, write_session
from shared.lifecycle import advance, complete_job
from shared.models import JOBS, Account, Job
from shared.states import JobStatus


def insert_paid_job(
    account_id: str,
    prompt: str = "p",
    *,
    credits: int = 2,
    aspect_ratio: str = "16:9",
    admitted: bool = False,
) -> Job:
    """A pending job and its debit, as the gateway writes them; no message is published.

    `admitted`: written as the dispatcher leaves it (`admitted`, ready for a submit task the
    test runs itself), in the same statement, so no running dispatcher can take it first.
    """
    job = Job(
        account_id=account_id,
        generation_type="text_to_video",
        prompt=prompt,
        aspect_ratio=aspect_ratio,
        credits_charged=credits,
    )
    if admitted:
        job.status = JobStatus.ADMITTED
        job.admitted_at = job.created_at
    pay_and_insert(job.model_dump())
    return job


def reload_job(job: Job) -> Job:
    """The job's row as the database holds it now."""
    with read_session() as session:
        fresh = session.get(Job, job.id)
    assert fresh is not None
    return fresh


def balance(account_id: str) -> int:
    with read_session() as session:
        account = session.get(Account, account_id)
    assert account is not None
    return account.credits


def to_processing(job: Job) -> Job:
    """A pending job moved on as a submit would (each move published, as in production)."""
    with write_session() as session:
        session.execute(
            JOBS.update().where(JOBS.c.id == job.id).values(status=JobStatus.SUBMITTING.value)
        )
        assert advance(session, job, JobStatus.PROCESSING, upstream_operation=f"op/{job.id}")
    return reload_job(job)


def complete(job: Job) -> None:
    """A processing job completed as a poll would."""
    with write_session() as session:
        assert complete_job(session, job, video_key=f"videos/{job.id}.mp4", video_bytes=1)
