"""Poll: a DB-driven batch poller. No task waits while the upstream works (DESIGN rule 5).

Beat sends `poll_due` every `poll_tick_s`. Each run claims the jobs whose `next_poll_at` has
come (moving it a lease ahead, so another worker skips them), checks each operation once,
concurrently, and writes the next poll time or the terminal state. A worker killed mid-batch
loses nothing: its claimed jobs become due again when the lease runs out.
"""

import asyncio
import logging
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from shared.cancellation import discard_cancelled_videos
from shared.constants import KEY_POLL_BUCKET, TASK_POLL_DUE
from shared.db import write_session
from shared.errors import UpstreamPermanentError, UpstreamTransientError
from shared.estimates import recent_durations_s, record_durations
from shared.lifecycle import STEP_FIELDS, Failure, JobRef, Step, advance_all
from shared.metrics import upstream as upstream_metrics
from shared.models import JOBS
from shared.quotas import release_capacity, return_tokens, take_tokens
from shared.redis_client import get_redis, rkey
from shared.settings import Settings, get_settings
from shared.states import JobStatus
from shared.timeutil import utcnow
from worker.app import app
from worker.runloop import run
from worker.tasks.decisions import (
    DEADLINE_EXCEEDED,
    Fetch,
    PollAgain,
    Resubmit,
    decide_poll,
    past_deadline,
    poll_bounds,
    resubmits_left,
)
from worker.tasks.poll_claims import Claimed, claim_due
from worker.tasks.poll_schedule import Plan, plan
from worker.tasks.store_video import Stored, store_videos
from worker.upstream import get_upstream
from worker.upstream.base import PollResult

log = logging.getLogger(__name__)
_jobs = JOBS


# What one look at a claimed job came to: poll again, fail, submit anew, or complete (its
# video stored).
Outcome = PollAgain | Failure | Resubmit | Stored


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
            return await store_videos(claimed.job_id, videos or (decision.video,), settings)
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
