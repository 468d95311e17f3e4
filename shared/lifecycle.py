"""What happens around a transition, in the same transaction: refunds on failure, and a
webhook delivery row for each event; the delivery messages are published after the commit.
Tasks call `advance()` (or its two wrappers) instead of touching credits or outboxes."""

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from shared.credits import refund_job
from shared.job_view import status_data
from shared.models import Account, Job, WebhookDelivery
from shared.queueing import enqueue_delivery
from shared.states import JobStatus, transition
from shared.timeutil import iso_z, utcnow

EVENTS: dict[JobStatus, str] = {
    JobStatus.PROCESSING: "video.processing",
    JobStatus.COMPLETED: "video.completed",
    JobStatus.FAILED: "video.failed",
}
ALWAYS_SENT = frozenset({"video.completed", "video.failed"})


@dataclass(frozen=True)
class Failure:
    """Why a job failed, in words a user can act on; `refund` is False only for the user's fault."""

    code: str
    message: str
    refund: bool = True


def record_event(session: Session, job_id: str, event_type: str) -> WebhookDelivery | None:
    """A delivery row for the job's endpoint (request's, else account's), if it wants this event."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        return None
    url = job.webhook_url
    if url is None:
        account = session.get(Account, job.account_id)
        url = account.webhook_url if account else None
    if url is None or (
        event_type not in ALWAYS_SENT and event_type not in (job.webhook_events or [])
    ):
        return None
    now = utcnow()
    body = {"type": event_type, "timestamp": iso_z(now), "data": status_data(session, job)}
    delivery = WebhookDelivery(
        account_id=job.account_id,
        job_id=job.id,
        event_type=event_type,
        url=url,
        payload=json.dumps(body, separators=(",", ":")),
        next_attempt_at=now,
    )
    session.add(delivery)
    return delivery


def advance(
    session: Session,
    job: Job,
    to: JobStatus,
    *,
    guard: dict[str, Any] | None = None,
    failure: Failure | None = None,
    **values: Any,
) -> bool:
    """transition() plus its consequences, committed together; False if another step won."""
    if failure is not None:
        values.update(error_code=failure.code, error_message=failure.message[:2000])
    if not transition(session, job.id, to, guard=guard, **values):
        session.rollback()
        return False
    if to is JobStatus.FAILED and (failure is None or failure.refund):
        refund_job(session, job.account_id, job.id, job.credits_charged)
    delivery = record_event(session, job.id, EVENTS[to]) if to in EVENTS else None
    session.commit()
    if delivery is not None:
        enqueue_delivery(delivery.id)
    return True


def fail_job(session: Session, job: Job, failure: Failure, **guard: Any) -> bool:
    """Move `job` to failed (refunding if due) and commit; False if another step got there first."""
    return advance(
        session, job, JobStatus.FAILED, guard=guard or None, failure=failure, next_poll_at=None
    )


def complete_job(session: Session, job: Job, *, video_key: str, video_bytes: int) -> bool:
    """Move `job` to completed once its video is in our storage, and commit."""
    return advance(
        session,
        job,
        JobStatus.COMPLETED,
        video_key=video_key,
        video_bytes=video_bytes,
        next_poll_at=None,
    )
