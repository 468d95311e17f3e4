"""What happens around a terminal transition, in the same transaction: refunds (and, later,
webhook delivery rows). Tasks call these instead of touching credits or outboxes themselves."""

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from shared.credits import refund_job
from shared.models import Job
from shared.states import JobStatus, transition


@dataclass(frozen=True)
class Failure:
    """Why a job failed, in words a user can act on; `refund` is False only for the user's fault."""

    code: str
    message: str
    refund: bool = True


def fail_job(session: Session, job: Job, failure: Failure, **guard: Any) -> bool:
    """Move `job` to failed (refunding if due) and commit; False if another step got there first."""
    moved = transition(
        session,
        job.id,
        JobStatus.FAILED,
        guard=guard or None,
        error_code=failure.code,
        error_message=failure.message[:2000],
        next_poll_at=None,
    )
    if not moved:
        session.rollback()
        return False
    if failure.refund:
        refund_job(session, job.account_id, job.id, job.credits_charged)
    session.commit()
    return True


def complete_job(session: Session, job: Job, *, video_key: str, video_bytes: int) -> bool:
    """Move `job` to completed once its video is in our storage, and commit."""
    moved = transition(
        session,
        job.id,
        JobStatus.COMPLETED,
        video_key=video_key,
        video_bytes=video_bytes,
        next_poll_at=None,
    )
    if not moved:
        session.rollback()
        return False
    session.commit()
    return True
