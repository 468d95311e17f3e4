"""Jobs as they finish: by final status, failures by code, refunds, and the time spent in each
state, read from the row's own timestamps when the move is committed (shared/lifecycle.py)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Histogram

STATE_BUCKETS_S = (0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 3600)

FINISHED = Counter("veo_jobs_finished_total", "Jobs that reached a terminal status", ["status"])
FAILURES = Counter("veo_job_failures_total", "Failed jobs by failure code", ["code"])
REFUNDS = Counter("veo_job_refunds_total", "Failed jobs whose credits were given back")
CREDITS_REFUNDED = Counter("veo_credits_refunded_total", "Credits given back for failed jobs")
STATE_SECONDS = Histogram(
    "veo_job_state_duration_seconds",
    "Time a job spent in a stage: waiting (paid to admitted), submitting (submit call to "
    "accepted), generating (accepted to stored, download included), downloading, total",
    ["state"],
    buckets=STATE_BUCKETS_S,
)

# (state, from column, to column) of the stages read off a finished row; None: the move's time.
_SPANS = (
    ("waiting", "created_at", "admitted_at"),
    ("submitting", "submitted_at", "processing_at"),
    ("generating", "processing_at", None),
    ("total", "created_at", None),
)


def _seconds(start: Any, end: Any) -> float | None:
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    return max(0.0, (end - start).total_seconds())


def observe_finished(job: Any, status: str, now: datetime) -> None:
    """One job's terminal move; the spans whose timestamps its row carries are observed."""
    FINISHED.labels(status).inc()
    for state, start, end in _SPANS:
        if state == "generating" and status != "completed":
            continue
        seconds = _seconds(
            getattr(job, start, None), now if end is None else getattr(job, end, None)
        )
        if seconds is not None:
            STATE_SECONDS.labels(state).observe(seconds)


def observe_moves(steps: Sequence[Any], moved: Sequence[bool], now: datetime) -> None:
    """The committed moves of `shared.lifecycle.advance_all` (Steps): terminal ones counted."""
    for step, ok in zip(steps, moved, strict=True):
        status = str(getattr(step.to, "value", step.to))
        if not ok or status not in {"completed", "failed", "cancelled"}:
            continue
        observe_finished(step.job, status, now)
        if step.failure is not None:
            FAILURES.labels(step.failure.code).inc()


def refunded(credits: int) -> None:
    REFUNDS.inc()
    CREDITS_REFUNDED.inc(credits)


def downloaded(seconds: float) -> None:
    STATE_SECONDS.labels("downloading").observe(seconds)
