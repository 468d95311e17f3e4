"""What happens around a transition, in the same transaction: refunds on failure, and a
webhook delivery row for each event; the delivery messages are published after the commit.
Tasks call `advance_all()` (or `advance()` and its two wrappers) instead of touching credits or
outboxes. A batch of moves (the poller finishing many jobs) shares one transaction and one
publish, which is most of what a finished job costs. After the commit, the moved jobs'
statuses are mirrored to Redis for the status endpoint (shared.status_cache)."""

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, select
from sqlmodel import Session, col

from shared import status_cache
from shared.credits import refund_job
from shared.db import statement_connection, write_session
from shared.job_view import STATUS_FIELDS, status_data
from shared.logs import log_context
from shared.metrics import jobs as metrics
from shared.models import Account, Job, WebhookDelivery
from shared.queueing import enqueue_deliveries
from shared.states import JobStatus
from shared.timeutil import iso_z, utcnow
from shared.transitions import transition_returning

EVENTS: dict[JobStatus, str] = {
    JobStatus.PROCESSING: "video.processing",
    JobStatus.COMPLETED: "video.completed",
    JobStatus.FAILED: "video.failed",
    JobStatus.CANCELLED: "video.cancelled",
}
log = logging.getLogger(__name__)
# Every terminal event: a receiver always learns how a job ended.
ALWAYS_SENT = frozenset({"video.completed", "video.failed", "video.cancelled"})
# Deliveries of one batch to one endpoint travel in one message of at most this many: the
# delivery task's claim, reads and writes are shared, and a Celery message costs as much CPU
# as a delivery. (The task stops early on a slow or failing receiver; see worker/tasks/deliver.)
DELIVERY_GROUP_MAX = 50
# What a Step needs of its job (columns that never change after creation), so a caller may
# select just these instead of loading a Job; and what a move hands back (the status, mirrored
# and sent in webhooks, and where to send them).
STEP_FIELDS = ("id", "account_id", "credits_charged", "webhook_url", "webhook_events")
MOVED_FIELDS = (*STATUS_FIELDS, "webhook_url")
JobRef = Job | Row[Any]  # a Job, or a Core row with at least STEP_FIELDS


@dataclass(frozen=True)
class Failure:
    """Why a job failed, in words a user can act on; `refund` is False only for the user's fault."""

    code: str
    message: str
    refund: bool = True


@dataclass(frozen=True)
class Step:
    """One job's move. `job` is the row as the caller read it: only its STEP_FIELDS (columns
    that never change after creation) are used from it."""

    job: JobRef
    to: JobStatus
    values: dict[str, Any] = field(default_factory=dict)
    guard: dict[str, Any] | None = None
    failure: Failure | None = None
    announce: bool = True  # False: send no webhook event for this move (a repeated state)
    refund: bool | None = None  # None: as `refund_due` says; a cancel decides for itself


def wants_event(job: JobRef, event_type: str) -> bool:
    """Whether the job asked for this event (the URL is checked once the row is reloaded)."""
    return event_type in ALWAYS_SENT or event_type in (job.webhook_events or [])


def _record_events(session: Session, wanted: list[tuple[Row[Any], str]]) -> list[WebhookDelivery]:
    """A delivery row per wanted (job, event) that has an endpoint (request's, else account's).

    The jobs must be fresh (as their move left them): the payload is the status they now show.
    """
    need_account = {job.account_id for job, _ in wanted if job.webhook_url is None}
    account_urls: dict[str, str | None] = {}
    if need_account:
        rows = session.execute(
            select(col(Account.id), col(Account.webhook_url)).where(
                col(Account.id).in_(need_account)
            )
        )
        account_urls = {row.id: row.webhook_url for row in rows}
    now = utcnow()
    deliveries = []
    for job, event_type in wanted:
        url = job.webhook_url or account_urls.get(job.account_id)
        if url is None:
            continue
        body = {"type": event_type, "timestamp": iso_z(now), "data": status_data(session, job)}
        deliveries.append(
            WebhookDelivery(
                account_id=job.account_id,
                job_id=job.id,
                event_type=event_type,
                url=url,
                payload=json.dumps(body, separators=(",", ":")),
                next_attempt_at=now,
            )
        )
    session.add_all(deliveries)
    return deliveries


def advance_all(session: Session, steps: Sequence[Step]) -> list[bool]:
    """transition() for each step plus the consequences, committed together (with whatever the
    caller has pending in `session`); for each step, whether it moved (False: another step
    won). Delivery messages go out after the commit.

    Each move is still its own compare-and-set; sharing the commit only means a crash loses
    the whole batch, which every caller already tolerates (its rows stay due or claimed).
    """
    rows = [_move(session, step) for step in steps]
    moved = [row is not None for row in rows]
    # Each move's RETURNING row is the job as it now is: no reload query.
    fresh = {row.id: row for row in rows if row is not None}
    done = [step for step, ok in zip(steps, moved, strict=True) if ok]
    for step in done:
        if _refunds(step) and refund_job(
            session, step.job.account_id, step.job.id, step.job.credits_charged
        ):
            metrics.refunded(step.job.credits_charged)
    events = {step.job.id: EVENTS[step.to] for step in done if _wants_its_event(step)}
    deliveries = _record_events(session, [(fresh[i], e) for i, e in events.items() if i in fresh])
    session.commit()
    metrics.observe_moves(steps, moved, utcnow())
    _log_moves(done)
    status_cache.store(fresh.values())
    enqueue_deliveries(_by_endpoint(deliveries))
    return moved


def _log_moves(done: list[Step]) -> None:
    """One line per committed move, under its job and account (shared/logs.py)."""
    for step in done:
        with log_context(step.job.id, step.job.account_id):
            reason = f" ({step.failure.code})" if step.failure is not None else ""
            log.info("job %s is %s%s", step.job.id, step.to.value, reason)


def advance_alone(
    job: JobRef,
    to: JobStatus,
    *,
    guard: dict[str, Any] | None = None,
    announce: bool = True,
    **values: Any,
) -> bool:
    """`advance()` in a transaction of its own. A move that can have no consequences (no refund,
    no event wanted: a submit's move to processing, usually) is its one statement, autocommitted
    on PostgreSQL: no ORM session, no BEGIN and COMMIT round trips."""
    step = Step(job, to, values, guard, announce=announce)
    if _refunds(step) or _wants_its_event(step):
        with write_session() as session:
            return advance_all(session, [step])[0]
    with statement_connection() as connection:
        row = _move(connection, step)
    if row is not None:
        status_cache.store([row])
    return row is not None


def _move(session: Session | Connection, step: Step) -> Row[Any] | None:
    values = dict(step.values)
    if step.failure is not None:
        values.update(error_code=step.failure.code, error_message=step.failure.message[:2000])
    return transition_returning(
        session, step.job.id, step.to, returning=MOVED_FIELDS, guard=step.guard, **values
    )


def refund_due(to: JobStatus, failure: Failure | None) -> bool:
    """Whether a move gives the job's credits back: a job pays its `credits_charged` once, when
    accepted, and gets them back when it fails, unless the failure was the user's own fault."""
    return to is JobStatus.FAILED and (failure is None or failure.refund)


def _refunds(step: Step) -> bool:
    return refund_due(step.to, step.failure) if step.refund is None else step.refund


def _wants_its_event(step: Step) -> bool:
    return step.announce and step.to in EVENTS and wants_event(step.job, EVENTS[step.to])


def _by_endpoint(deliveries: list[WebhookDelivery]) -> list[list[str]]:
    """Delivery ids grouped by endpoint (account and URL), at most DELIVERY_GROUP_MAX a group."""
    groups: dict[tuple[str, str], list[str]] = {}
    for delivery in deliveries:
        groups.setdefault((delivery.account_id, delivery.url), []).append(delivery.id)
    return [
        ids[start : start + DELIVERY_GROUP_MAX]
        for ids in groups.values()
        for start in range(0, len(ids), DELIVERY_GROUP_MAX)
    ]


def advance(
    session: Session,
    job: JobRef,
    to: JobStatus,
    *,
    guard: dict[str, Any] | None = None,
    failure: Failure | None = None,
    **values: Any,
) -> bool:
    """One step of `advance_all`; False if another step won."""
    return advance_all(session, [Step(job, to, values, guard, failure)])[0]


def fail_job(session: Session, job: JobRef, failure: Failure, **guard: Any) -> bool:
    """Move `job` to failed (refunding if due) and commit; False if another step got there first."""
    return advance(
        session, job, JobStatus.FAILED, guard=guard or None, failure=failure, next_poll_at=None
    )


def complete_job(session: Session, job: JobRef, *, video_key: str, video_bytes: int) -> bool:
    """Move `job` to completed once its video is in our storage, and commit."""
    return advance(
        session,
        job,
        JobStatus.COMPLETED,
        video_key=video_key,
        video_bytes=video_bytes,
        next_poll_at=None,
    )
