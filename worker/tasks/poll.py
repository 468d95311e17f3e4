"""Poll: a DB-driven batch poller. No task waits while the upstream works (DESIGN rule 5).

Beat sends `poll_due` every `poll_tick_s`. Each run claims the jobs whose `next_poll_at` has
come (moving it a lease ahead, so another worker skips them), checks each operation once,
concurrently, and writes the next poll time or the terminal state. A worker killed mid-batch
loses nothing: its claimed jobs become due again when the lease runs out.
"""

import asyncio
import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, select, update
from sqlmodel import Session, col

from shared.cancellation import discard_cancelled_videos
from shared.constants import KEY_POLL_BUCKET, TASK_POLL_DUE
from shared.db import write_session
from shared.errors import UpstreamPermanentError, UpstreamTransientError
from shared.estimates import recent_durations_s, record_durations, record_poll_lateness
from shared.lifecycle import STEP_FIELDS, Failure, JobRef, Step, advance_all
from shared.metrics import jobs as job_metrics
from shared.metrics import upstream as upstream_metrics
from shared.models import JOBS, Job
from shared.quotas import release_capacity, return_tokens, take_tokens
from shared.redis_client import get_redis, rkey
from shared.settings import Settings, get_settings
from shared.states import JobStatus
from shared.storage import get_storage
from shared.timeutil import utcnow
from worker.app import app
from worker.runloop import run
from worker.tasks.decisions import (
    DEADLINE_EXCEEDED,
    Fetch,
    PollAgain,
    Resubmit,
    decide_poll,
    early_window_s,
    past_deadline,
    poll_bounds,
    resubmits_left,
)
from worker.tasks.poll_schedule import Plan, plan
from worker.upstream import get_upstream
from worker.upstream.base import PollResult, VideoRef

log = logging.getLogger(__name__)
_jobs = JOBS


@dataclass(frozen=True)
class Claimed:
    job_id: str
    operation: str
    poll_count: int
    deadline_at: datetime | None
    started_at: datetime | None  # when the upstream accepted it (processing_at)
    submit_attempts: int = 0
    operation_resubmits: int = 0


@dataclass(slots=True)
class Stored:
    """A finished job's videos (one per sample), now in our storage: the job completes."""

    video_keys: list[str]
    video_bytes: int  # all of them together


# What one look at a claimed job came to: poll again, fail, submit anew, or complete (its
# video stored).
Outcome = PollAgain | Failure | Resubmit | Stored


def claim_due(session: Session, limit: int) -> list[Claimed]:
    """Claim up to `limit` jobs due by the middle of the next tick, by moving their next poll a
    lease ahead.

    PostgreSQL: FOR UPDATE SKIP LOCKED lets concurrent pollers take disjoint batches. SQLite:
    SQLAlchemy emits no FOR UPDATE, but the writer lock taken by BEGIN IMMEDIATE already makes
    the select-then-update atomic.
    """
    settings = get_settings()
    now = utcnow()
    due_by = now + timedelta(seconds=early_window_s(settings))
    rows = session.execute(
        select(
            col(Job.id),
            col(Job.upstream_operation),
            col(Job.poll_count),
            col(Job.deadline_at),
            col(Job.next_poll_at),
            col(Job.processing_at),
            col(Job.submit_attempts),
            col(Job.operation_resubmits),
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
    return [
        Claimed(
            r.id,
            r.upstream_operation,
            r.poll_count,
            r.deadline_at,
            r.processing_at,
            r.submit_attempts,
            r.operation_resubmits,
        )
        for r in rows
    ]


def video_key(job_id: str, sample: int) -> str:
    """Where a sample is stored: the first where single-sample jobs always kept theirs."""
    return f"videos/{job_id}.mp4" if sample == 0 else f"videos/{job_id}-{sample}.mp4"


async def _store_video(key: str, video: VideoRef, settings: Settings) -> int:
    """Download to a file of its own in the temporary directory, then hand it to storage (a
    rename, locally). Not a temporary directory per video: creating and removing one cost
    about a tenth of a poll batch's time on a busy host."""
    path = Path(tempfile.gettempdir()) / f"veo-video-{uuid.uuid4().hex}.mp4"
    started = time.monotonic()
    try:
        size = await get_upstream().download(video, path, max_bytes=settings.video_max_bytes)
        await asyncio.to_thread(get_storage().put_file, key, path, "video/mp4", move=True)
    finally:
        path.unlink(missing_ok=True)  # gone already once moved
    job_metrics.downloaded(time.monotonic() - started)
    return size


async def _store_videos(
    claimed: Claimed, videos: tuple[VideoRef, ...], settings: Settings
) -> Stored:
    """Every sample, one after another (a worker holds one download at a time per job)."""
    keys, total = [], 0
    for sample, video in enumerate(videos):
        key = video_key(claimed.job_id, sample)
        total += await _store_video(key, video, settings)
        keys.append(key)
    return Stored(keys, total)


def current_plan(settings: Settings) -> Plan | None:
    """The predictive schedule for this batch, fitted to the latest completions (None: the
    geometric one)."""
    if settings.poll_schedule != "predictive":
        return None
    return plan(recent_durations_s(), poll_bounds(settings), settings.poll_backoff_factor)


async def check_once(claimed: Claimed, settings: Settings, schedule: Plan | None = None) -> Outcome:
    """One look at one operation, decided by `decide_poll` and carried out here."""
    now = utcnow()
    if past_deadline(claimed.deadline_at, now):
        return DEADLINE_EXCEEDED
    answer: PollResult | UpstreamTransientError | UpstreamPermanentError
    try:
        answer = await get_upstream().poll(claimed.operation)
    except (UpstreamTransientError, UpstreamPermanentError) as exc:
        answer = exc
    try:
        return await _carry_out(claimed, answer, now, settings, schedule)
    finally:
        if isinstance(answer, PollResult):  # inline videos decoded to files and not stored
            for video in answer.videos:
                if video.path is not None:
                    video.path.unlink(missing_ok=True)


async def _carry_out(
    claimed: Claimed,
    answer: PollResult | UpstreamTransientError | UpstreamPermanentError,
    now: datetime,
    settings: Settings,
    schedule: Plan | None,
) -> Outcome:
    """The decision on one look, carried out (a video stored, or a retry logged)."""
    left = resubmits_left(claimed.operation_resubmits, claimed.submit_attempts, settings)
    elapsed_s = (now - claimed.started_at).total_seconds() if claimed.started_at else None
    decision = decide_poll(
        answer,
        claimed.poll_count,
        now,
        settings,
        resubmits=left,
        plan=schedule,
        elapsed_s=elapsed_s,
    )
    if isinstance(decision, Resubmit):
        log.warning(
            "operation of %s failed; submitting it anew: %s", claimed.job_id, decision.reason
        )
    if isinstance(decision, Fetch):
        videos = answer.videos if isinstance(answer, PollResult) else ()
        try:
            return await _store_videos(claimed, videos or (decision.video,), settings)
        except (UpstreamTransientError, UpstreamPermanentError) as exc:  # a failed download
            decision = decide_poll(exc, claimed.poll_count, now, settings)
    if isinstance(decision, PollAgain) and decision.reason is not None:
        log.info(
            "poll of %s will retry in %.1fs: %s", claimed.job_id, decision.delay_s, decision.reason
        )
    assert not isinstance(decision, Fetch)  # an error never decides Fetch
    return decision


async def check_all(batch: list[Claimed]) -> list[Outcome]:
    """Look at each claimed job once, concurrently (at most `poll_concurrency` at a time); the
    outcomes come back in the batch's order."""
    settings = get_settings()
    limit = asyncio.Semaphore(settings.poll_concurrency)
    schedule = current_plan(settings)

    async def bounded(claimed: Claimed) -> Outcome:
        async with limit:
            return await check_once(claimed, settings, schedule)

    return await asyncio.gather(*(bounded(c) for c in batch))


def persist(batch: list[Claimed], outcomes: list[Outcome]) -> None:
    """Write a checked batch in one transaction: next poll times in one executemany, finished
    jobs through `advance_all` (one reload, one commit and one publish for all of them)."""
    again = [
        {"job_id": claimed.job_id, "next_at": outcome.at}
        for claimed, outcome in zip(batch, outcomes, strict=True)
        if isinstance(outcome, PollAgain)
    ]
    finished = [
        (claimed, outcome)
        for claimed, outcome in zip(batch, outcomes, strict=True)
        if not isinstance(outcome, PollAgain)
    ]
    with write_session() as session:
        if again:
            session.connection().execute(  # one executemany
                update(_jobs)
                .where(
                    _jobs.c.id == bindparam("job_id"), _jobs.c.status == JobStatus.PROCESSING.value
                )
                .values(next_poll_at=bindparam("next_at"), poll_count=_jobs.c.poll_count + 1),
                again,
            )
        steps = _finishing_steps(session, finished)
        moved = advance_all(session, steps)  # commits the reschedules too
    discard_cancelled_videos(
        (claimed.job_id, key)
        for claimed, outcome in finished
        if isinstance(outcome, Stored) and not _completed(claimed.job_id, steps, moved)
        for key in outcome.video_keys
    )
    now = utcnow()
    record_durations(
        [
            (now - (step.job.processing_at or step.job.created_at)).total_seconds()
            for step, ok in zip(steps, moved, strict=True)
            if ok and step.to is JobStatus.COMPLETED
        ]
    )
    release_capacity(*(claimed.job_id for claimed, _ in finished))


def _completed(job_id: str, steps: list[Step], moved: list[bool]) -> bool:
    """Whether this batch's completion of the job moved it (False: a cancel got there first)."""
    return any(step.job.id == job_id and ok for step, ok in zip(steps, moved, strict=True))


def _finishing_steps(
    session: Session, finished: list[tuple[Claimed, Failure | Resubmit | Stored]]
) -> list[Step]:
    """The move of each finished job (the columns its move and `persist` use, read with the
    others' in one query: Core rows, not Jobs)."""
    if not finished:
        return []
    ids = [claimed.job_id for claimed, _ in finished]
    # the timestamps also time each stage of a finished job (shared/metrics/jobs.py)
    columns = (*STEP_FIELDS, "processing_at", "created_at", "admitted_at", "submitted_at")
    rows = session.execute(select(*(_jobs.c[name] for name in columns)).where(_jobs.c.id.in_(ids)))
    jobs = {job.id: job for job in rows}
    steps = []
    for claimed, outcome in finished:
        job = jobs.get(claimed.job_id)
        if job is None:
            continue
        if isinstance(outcome, Failure):
            steps.append(Step(job, JobStatus.FAILED, {"next_poll_at": None}, failure=outcome))
        elif isinstance(outcome, Resubmit):
            steps.append(_resubmit_step(job, claimed, outcome))
        else:
            values = {
                "video_key": outcome.video_keys[0],
                "video_keys": outcome.video_keys,
                "video_bytes": outcome.video_bytes,
                "next_poll_at": None,
            }
            steps.append(Step(job, JobStatus.COMPLETED, values))
    return steps


def _resubmit_step(job: JobRef, claimed: Claimed, outcome: Resubmit) -> Step:
    """Back to waiting without the failed operation; the dispatcher admits it again after
    `outcome.at`, and its submit is a new attempt. Guarded by the resubmit count read."""
    values = {
        "upstream_operation": None,
        "next_poll_at": None,
        "deadline_at": None,
        "poll_count": 0,
        "next_submit_at": outcome.at,
        "operation_resubmits": claimed.operation_resubmits + 1,
    }
    return Step(
        job, JobStatus.PENDING, values, {"operation_resubmits": claimed.operation_resubmits}
    )


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
        upstream_metrics.quota_wait("poll")
        return 0
    with write_session() as session:
        batch = claim_due(session, tokens)
    if len(batch) < tokens:
        return_tokens(get_redis(), rkey(KEY_POLL_BUCKET), tokens - len(batch))
    if not batch:
        return 0
    persist(batch, run(check_all(batch)))
    if len(batch) == wanted:
        poll_due.apply_async()  # a backlog: keep going rather than wait for the next tick
    return len(batch)
