"""Poll: a DB-driven batch poller. No task waits while the upstream works (DESIGN rule 5).

Beat sends `poll_due` every `poll_tick_s`. Each run claims the jobs whose `next_poll_at` has
come (moving it a lease ahead, so another worker skips them), checks each operation once,
concurrently, and writes the next poll time or the terminal state. A worker killed mid-batch
loses nothing: its claimed jobs become due again when the lease runs out.
"""

import asyncio
import logging
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, select, update
from sqlmodel import Session, col

from shared.constants import KEY_POLL_BUCKET, TASK_POLL_DUE
from shared.db import write_session
from shared.errors import UpstreamPermanentError, UpstreamTransientError
from shared.estimates import record_durations, record_poll_lateness
from shared.lifecycle import STEP_FIELDS, Failure, Step, advance_all
from shared.models import JOBS, Job
from shared.quotas import release_capacity, return_tokens, take_tokens
from shared.redis_client import get_redis, rkey
from shared.settings import get_settings
from shared.states import JobStatus
from shared.storage import get_storage
from shared.timeutil import utcnow
from worker.app import app
from worker.backoff import backoff_s
from worker.runloop import run
from worker.upstream import get_upstream
from worker.upstream.base import PollResult

log = logging.getLogger(__name__)
_jobs = JOBS


@dataclass(frozen=True)
class Claimed:
    job_id: str
    operation: str
    poll_count: int
    deadline_at: datetime | None


@dataclass(frozen=True)
class Outcome:
    """What one check decided: poll again at `next_poll_at`, or finish with a video or a failure."""

    claimed: Claimed
    next_poll_at: datetime | None = None
    video_key: str | None = None
    video_bytes: int = 0
    failure: Failure | None = None


def early_window_s() -> float:
    """How early a poll may be claimed: half a tick, so a tick's polls fall within half a tick
    either side of their due times instead of up to a whole tick after them (on average on time,
    not half a tick late: the detection lag's median drops by a quarter of a second at 0.5 s)."""
    return get_settings().poll_tick_s / 2


def claim_due(session: Session, limit: int) -> list[Claimed]:
    """Claim up to `limit` jobs due by the middle of the next tick, by moving their next poll a
    lease ahead.

    PostgreSQL: FOR UPDATE SKIP LOCKED lets concurrent pollers take disjoint batches. SQLite:
    SQLAlchemy emits no FOR UPDATE, but the writer lock taken by BEGIN IMMEDIATE already makes
    the select-then-update atomic.
    """
    settings = get_settings()
    now = utcnow()
    due_by = now + timedelta(seconds=early_window_s())
    rows = session.execute(
        select(
            col(Job.id),
            col(Job.upstream_operation),
            col(Job.poll_count),
            col(Job.deadline_at),
            col(Job.next_poll_at),
        )
        .where(col(Job.status) == JobStatus.PROCESSING.value, col(Job.next_poll_at) <= due_by)
        .order_by(col(Job.next_poll_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if rows:
        session.execute(
            update(Job)
            .where(col(Job.id).in_([r.id for r in rows]))
            .values(next_poll_at=now + timedelta(seconds=settings.poll_claim_s))
            .execution_options(synchronize_session=False)
        )
    session.commit()
    record_poll_lateness([(now - r.next_poll_at).total_seconds() for r in rows])
    return [Claimed(r.id, r.upstream_operation, r.poll_count, r.deadline_at) for r in rows]


def next_poll_delay_s(poll_count: int, retry_after_s: float | None = None) -> float:
    """The backoff step; a Retry-After is padded by the early window, so that a poll claimed
    early still comes no sooner than the upstream asked."""
    settings = get_settings()
    return backoff_s(
        poll_count,
        base_s=settings.poll_first_delay_s,
        factor=settings.poll_backoff_factor,
        cap_s=settings.poll_max_interval_s,
        retry_after_s=None if retry_after_s is None else retry_after_s + early_window_s(),
        jitter=0.1,
    )


async def _store_video(claimed: Claimed, result: PollResult) -> Outcome:
    """Download to a file of its own in the temporary directory, then hand it to storage (a
    rename, locally). Not a temporary directory per video: creating and removing one cost
    about a tenth of a poll batch's time on a busy host."""
    settings = get_settings()
    assert result.video is not None
    key = f"videos/{claimed.job_id}.mp4"
    path = Path(tempfile.gettempdir()) / f"veo-video-{uuid.uuid4().hex}.mp4"
    try:
        size = await get_upstream().download(result.video, path, max_bytes=settings.video_max_bytes)
        await asyncio.to_thread(get_storage().put_file, key, path, "video/mp4", move=True)
    finally:
        path.unlink(missing_ok=True)  # gone already once moved
    return Outcome(claimed, video_key=key, video_bytes=size)


async def check_once(claimed: Claimed) -> Outcome:
    """One look at one operation; every error is turned into a decision here."""
    now = utcnow()
    if claimed.deadline_at is not None and now >= claimed.deadline_at:
        message = "The video was not ready before the deadline; credits refunded."
        return Outcome(claimed, failure=Failure("deadline_exceeded", message))
    try:
        result = await get_upstream().poll(claimed.operation)
        if not result.done:
            return Outcome(
                claimed, next_poll_at=now + timedelta(seconds=next_poll_delay_s(claimed.poll_count))
            )
        if result.failure is not None:
            failure = result.failure
            return Outcome(
                claimed, failure=Failure(failure.code, failure.message, refund=failure.refund)
            )
        return await _store_video(claimed, result)
    except UpstreamTransientError as exc:
        delay = next_poll_delay_s(claimed.poll_count, exc.retry_after_s)
        log.info("poll of %s will retry in %.1fs: %s", claimed.job_id, delay, exc.message)
        return Outcome(claimed, next_poll_at=now + timedelta(seconds=delay))
    except UpstreamPermanentError as exc:
        return Outcome(claimed, failure=Failure(exc.code, exc.message, refund=exc.refund))


async def check_all(batch: list[Claimed]) -> list[Outcome]:
    limit = asyncio.Semaphore(get_settings().poll_concurrency)

    async def bounded(claimed: Claimed) -> Outcome:
        async with limit:
            return await check_once(claimed)

    return await asyncio.gather(*(bounded(c) for c in batch))


def persist(outcomes: list[Outcome]) -> None:
    """Write a checked batch in one transaction: next poll times in one executemany, finished
    jobs through `advance_all` (one reload, one commit and one publish for all of them)."""
    again = [o for o in outcomes if o.next_poll_at is not None]
    finished = [o for o in outcomes if o.next_poll_at is None]
    with write_session() as session:
        if again:
            session.connection().execute(  # one executemany
                update(_jobs)
                .where(
                    _jobs.c.id == bindparam("job_id"), _jobs.c.status == JobStatus.PROCESSING.value
                )
                .values(next_poll_at=bindparam("next_at"), poll_count=_jobs.c.poll_count + 1),
                [{"job_id": o.claimed.job_id, "next_at": o.next_poll_at} for o in again],
            )
        steps = _finishing_steps(session, finished)
        moved = advance_all(session, steps)  # commits the reschedules too
    now = utcnow()
    record_durations(
        [
            (now - (step.job.processing_at or step.job.created_at)).total_seconds()
            for step, ok in zip(steps, moved, strict=True)
            if ok and step.to is JobStatus.COMPLETED
        ]
    )
    release_capacity(*(o.claimed.job_id for o in finished))


def _finishing_steps(session: Session, finished: list[Outcome]) -> list[Step]:
    """The move of each finished job (the columns its move and `persist` use, read with the
    others' in one query: Core rows, not Jobs)."""
    if not finished:
        return []
    ids = [o.claimed.job_id for o in finished]
    columns = (*STEP_FIELDS, "processing_at", "created_at")
    rows = session.execute(select(*(_jobs.c[name] for name in columns)).where(_jobs.c.id.in_(ids)))
    jobs = {job.id: job for job in rows}
    steps = []
    for outcome in finished:
        job = jobs.get(outcome.claimed.job_id)
        if job is None:
            continue
        if outcome.failure is not None:
            steps.append(
                Step(job, JobStatus.FAILED, {"next_poll_at": None}, failure=outcome.failure)
            )
        elif outcome.video_key is not None:
            values = {
                "video_key": outcome.video_key,
                "video_bytes": outcome.video_bytes,
                "next_poll_at": None,
            }
            steps.append(Step(job, JobStatus.COMPLETED, values))
    return steps


@app.task(name=TASK_POLL_DUE, soft_time_limit=240, time_limit=300)
def poll_due() -> int:
    """Check every job that is due, in batches; returns how many were checked."""
    settings = get_settings()
    wanted = settings.poll_batch_size
    tokens = take_tokens(
        get_redis(),
        rkey(KEY_POLL_BUCKET),
        per_second=settings.upstream_polls_per_second,
        burst=settings.upstream_polls_per_second,
        wanted=wanted,
    )
    if tokens == 0:
        return 0
    with write_session() as session:
        batch = claim_due(session, tokens)
    if len(batch) < tokens:
        return_tokens(get_redis(), rkey(KEY_POLL_BUCKET), tokens - len(batch))
    if not batch:
        return 0
    persist(run(check_all(batch)))
    if len(batch) == wanted:
        poll_due.apply_async()  # a backlog: keep going rather than wait for the next tick
    return len(batch)
