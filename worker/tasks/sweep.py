"""Sweep: re-send what the database says should be moving but is not (DESIGN rule 1).

Waiting (`pending`) jobs need nothing from it: they are rows the dispatcher admits
(worker/tasks/dispatch.py). It re-sends the messages of admitted jobs and webhook deliveries
that went quiet, and returns a submit that died mid-call to waiting.

Runs from beat on the maintenance queue. Idempotent: a second sweeper, or a sweep racing a
live task, only re-sends messages whose handling is itself a compare-and-set.
"""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select, update
from sqlalchemy.orm import Mapped
from sqlmodel import col

from shared import status_cache
from shared.constants import HEARTBEAT_SWEEPER, KEY_IN_FLIGHT, TASK_SWEEP
from shared.db import read_connection, write_session
from shared.dispatch_order import IMAGE, Candidate
from shared.job_view import STATUS_FIELDS
from shared.lifecycle import fail_job
from shared.metrics import pipeline as pipeline_metrics
from shared.models import JOBS, Heartbeat, Job, WebhookDelivery
from shared.queueing import enqueue_delivery
from shared.quotas import acquire_slot, release_capacity
from shared.redis_client import get_redis, rkey
from shared.settings import get_settings
from shared.states import TERMINAL, DeliveryStatus, JobStatus
from shared.timeutil import utcnow
from shared.transitions import transition
from worker.app import app
from worker.tasks.decisions import GAVE_UP_SILENT, attempts_exhausted
from worker.tasks.dispatch import publish_admitted

log = logging.getLogger(__name__)
BATCH = 1000


def _mark_quiet(
    model: type[Job] | type[WebhookDelivery],
    due: list[ColumnElement[bool]],
    order: ColumnElement[Any] | Mapped[Any],
) -> list[str]:
    """The rows that are due and whose last message is older than the stale window (lost,
    Redis wiped, or a retry too far ahead for a countdown), at most BATCH, marked fresh so the
    next sweep leaves them alone; the caller publishes them again."""
    now = utcnow()
    quiet = col(model.updated_at) < now - timedelta(seconds=get_settings().sweep_stale_after_s)
    with write_session() as session:
        ids = list(
            session.execute(
                select(col(model.id)).where(*due, quiet).order_by(order).limit(BATCH)
            ).scalars()
        )
        if ids:  # bookkeeping only
            session.execute(
                update(model)
                .where(col(model.id).in_(ids), *due)
                .values(updated_at=now)
                .execution_options(synchronize_session=False)
            )
        session.commit()
    return ids


def resend_admitted() -> int:
    """Admitted jobs whose submit message was lost (Redis wiped, or the dispatcher died between
    its commit and its publish). A duplicate is harmless: the task's own claim is a
    compare-and-set."""
    ids = _mark_quiet(Job, [col(Job.status) == JobStatus.ADMITTED.value], col(Job.admitted_at))
    if not ids:
        return 0
    columns = (JOBS.c.id, JOBS.c.account_id, JOBS.c.generation_type, JOBS.c.admitted_at)
    with read_connection() as connection:
        rows = connection.execute(
            select(*columns).where(JOBS.c.id.in_(ids)).order_by(JOBS.c.admitted_at)
        ).all()
    publish_admitted([Candidate(r.id, r.account_id, r.generation_type == IMAGE) for r in rows])
    return len(rows)


def recover_stuck_submits() -> int:
    """A submit whose worker died mid-call: back to waiting, for the dispatcher to admit again
    (bounded by the attempt counter).

    If the upstream had accepted the call before the worker died, this is the one place a
    duplicate submission can happen; docs/guarantees.md documents it.
    """
    settings = get_settings()
    stale = utcnow() - timedelta(seconds=settings.submit_stale_s)
    # An image job's claim comes before its image fetch, which may take its own timeout more.
    fetch_stale = stale - timedelta(seconds=settings.image_fetch_timeout_s)
    with write_session() as session:
        stuck = list(
            session.execute(
                select(Job)
                .where(
                    col(Job.status) == JobStatus.SUBMITTING.value,
                    col(Job.updated_at) < stale,
                    or_(col(Job.generation_type) != IMAGE, col(Job.updated_at) < fetch_stale),
                    col(Job.upstream_operation).is_(None),
                )
                .limit(BATCH)
            ).scalars()
        )
    retried = 0
    for job in stuck:
        with write_session() as session:
            if attempts_exhausted(job.submit_attempts, settings):
                fail_job(session, job, GAVE_UP_SILENT, submit_attempts=job.submit_attempts)
                continue
            moved = transition(
                session, job.id, JobStatus.PENDING, guard={"submit_attempts": job.submit_attempts}
            )
            session.commit()
        if moved:
            release_capacity(job.id)
            retried += 1
    return retried


def resend_due_deliveries() -> int:
    """Webhook deliveries that are due and have no fresh message."""
    due = [
        col(WebhookDelivery.status) == DeliveryStatus.PENDING,
        col(WebhookDelivery.next_attempt_at) <= utcnow(),
    ]
    ids = _mark_quiet(WebhookDelivery, due, col(WebhookDelivery.next_attempt_at))
    for delivery_id in ids:
        enqueue_delivery(delivery_id)
    return len(ids)


def reconcile_in_flight() -> int:
    """Make the Redis in-flight set agree with the rows: free slots of jobs that are no longer
    upstream (a worker died between taking a slot and using it), re-add live ones (Redis wiped)."""
    client = get_redis()
    key = rkey(KEY_IN_FLIGHT)
    holders = {str(member) for member in client.zrange(key, 0, -1)}
    upstream = [JobStatus.ADMITTED.value, JobStatus.SUBMITTING.value, JobStatus.PROCESSING.value]
    with write_session() as session:
        live = set(
            session.execute(select(col(Job.id)).where(col(Job.status).in_(upstream))).scalars()
        )
    stale = holders - live
    if stale:
        client.zrem(key, *stale)
    settings = get_settings()
    for job_id in live - holders:
        acquire_slot(client, key, job_id, limit=2**31, ttl_s=int(settings.job_deadline_s + 600))
    return len(stale) + len(live - holders)


_FINISHED_SINCE = (
    select(*(JOBS.c[name] for name in STATUS_FIELDS))
    .where(
        JOBS.c.status.in_([status.value for status in TERMINAL]),
        JOBS.c.updated_at >= bindparam("since", type_=JOBS.c.updated_at.type),
        JOBS.c.deleted_at.is_(None),
    )
    .order_by(JOBS.c.updated_at)
    .limit(BATCH)
)
# A finish is stamped before its commit: a pass leaves this much behind it for commits in flight.
MIRROR_MARGIN_S = 30.0


def mirror_recent_finishes() -> int:
    """Mirror again (shared.status_cache) the jobs finished since the last successful pass, so
    a finish whose own write was lost shows within a sweep; the writes are rank-guarded, so
    repeating one is harmless. Without a watermark (first pass, Redis wiped), it looks back as
    far as a `processing` entry can live."""
    now = utcnow()
    watermark = status_cache.mirrored_until()
    since = (
        datetime.fromtimestamp(watermark, UTC)
        if watermark is not None
        else now - timedelta(seconds=get_settings().status_mirror_processing_ttl_s)
    )
    with read_connection() as connection:
        rows = connection.execute(_FINISHED_SINCE, {"since": since}).all()
    if len(rows) == BATCH:  # more to do: continue from the last one next time
        until = rows[-1].updated_at
    else:
        until = max(since, now - timedelta(seconds=MIRROR_MARGIN_S))
    status_cache.store(rows, watermark=until.timestamp())
    return len(rows)


def record_heartbeat(detail: dict[str, int]) -> None:
    with write_session() as session:
        beat = session.get(Heartbeat, HEARTBEAT_SWEEPER) or Heartbeat(name=HEARTBEAT_SWEEPER)
        beat.ran_at = utcnow()
        beat.detail = detail
        session.add(beat)
        session.commit()


@app.task(name=TASK_SWEEP, soft_time_limit=120, time_limit=150)
def sweep() -> dict[str, int]:
    detail = {
        "resent_admitted": resend_admitted(),
        "retried_submits": recover_stuck_submits(),
        "resent_deliveries": resend_due_deliveries(),
        "in_flight_fixed": reconcile_in_flight(),
        "statuses_mirrored": mirror_recent_finishes(),
    }
    record_heartbeat(detail)
    pipeline_metrics.swept(detail)
    if any(detail.values()):
        log.info("sweep: %s", detail)
    return detail
