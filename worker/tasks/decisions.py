"""What the submit and poll steps decide, as pure functions returning a value.

Each takes what its task read (the row's facts, the upstream's answer or error, the time, the
settings) and returns a decision; none touches the database, Redis, the upstream or the clock.
The tasks beside this module carry the decisions out: persist through `transition()`, schedule,
log. So every branch of a step is a row of a table in tests/unit, without a process.

    submit: decide_submit(answer) -> Accepted | RetryLater | Failure
    poll:   past_deadline(...) -> bool, then decide_poll(answer) -> PollAgain | Fetch | Resubmit
            | Failure
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.errors import (
    UpstreamOutcomeUnknown,
    UpstreamPermanentError,
    UpstreamResubmittable,
    UpstreamTransientError,
)
from shared.lifecycle import Failure
from shared.settings import Settings
from worker.backoff import backoff_s
from worker.tasks.poll_schedule import Bounds, Plan
from worker.upstream.base import PollResult, VideoRef

SUBMIT_RETRY_CAP_S = 60.0  # a countdown, so far below the broker's visibility timeout
POLL_JITTER = 0.1
# A job out of submit attempts; the second is the sweeper's word for submits that died mid-call.
GAVE_UP_REFUSED = Failure(
    "upstream_unavailable", "The video service kept refusing the request; credits refunded."
)
GAVE_UP_SILENT = Failure(
    "upstream_unavailable", "The video service did not answer; credits refunded."
)
DEADLINE_EXCEEDED = Failure(
    "deadline_exceeded", "The video was not ready before the deadline; credits refunded."
)
# A submit that may or may not have started a generation, under VEO_UNKNOWN_SUBMIT_POLICY=fail.
OUTCOME_UNKNOWN = Failure(
    "upstream_outcome_unknown",
    "The video service did not confirm the request, so it was not sent again; credits refunded.",
)
# Operations that fail on the upstream's side (google.rpc 8, 13, 14) get this many new
# submissions in a job's life: each one is a paid generation.
OPERATION_RESUBMITS_MAX = 1


# Decision classes are slotted but not frozen: a frozen dataclass's __init__ sets each field
# through object.__setattr__, several times the cost, and the poller makes one per look.


# --- submit ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Accepted:
    """The upstream took the job: store its operation name and start polling."""

    operation: str


@dataclass(slots=True)
class RetryLater:
    """Not now (quota, 5xx, timeout): back to pending, and submit again after `delay_s`."""

    delay_s: float
    reason: str


def attempts_exhausted(submit_attempts: int, settings: Settings) -> bool:
    """Whether a job has used every submit attempt (each one may have reached the upstream)."""
    return submit_attempts >= settings.submit_max_attempts


SubmitAnswer = str | UpstreamTransientError | UpstreamOutcomeUnknown | UpstreamPermanentError


def decide_submit(
    answer: SubmitAnswer,
    attempt: int,
    settings: Settings,
    rng: random.Random | None = None,
) -> Accepted | RetryLater | Failure:
    """What attempt number `attempt` (1 = the first) does with the upstream's answer: an
    operation name, or the error the adapter classified.

    A submit of unknown outcome is retried only under VEO_UNKNOWN_SUBMIT_POLICY=retry (which
    accepts paying the upstream twice); by default the job fails, refunded, and is not sent
    again. Either way the user pays for the job once: the debit is the job's, not the call's.
    """
    if isinstance(answer, str):
        return Accepted(answer)
    if isinstance(answer, UpstreamOutcomeUnknown):
        if settings.unknown_submit_policy == "fail":
            return OUTCOME_UNKNOWN
        delay_s = backoff_s(
            attempt - 1, base_s=settings.submit_retry_delay_s, cap_s=SUBMIT_RETRY_CAP_S, rng=rng
        )
        return RetryLater(delay_s, answer.message)
    if isinstance(answer, UpstreamTransientError):
        delay_s = backoff_s(
            attempt - 1,
            base_s=settings.submit_retry_delay_s,
            cap_s=SUBMIT_RETRY_CAP_S,
            retry_after_s=answer.retry_after_s,
            rng=rng,
        )
        return RetryLater(delay_s, answer.message)
    return Failure(answer.code, answer.message, refund=answer.refund)


def processing_values(operation: str, now: datetime, settings: Settings) -> dict[str, Any]:
    """The columns the move to `processing` sets: the operation, its first poll and deadline."""
    return {
        "upstream_operation": operation,
        "next_poll_at": now + timedelta(seconds=settings.poll_first_delay_s),
        "deadline_at": now + timedelta(seconds=settings.job_deadline_s),
        "poll_count": 0,
    }


# --- poll --------------------------------------------------------------------------------------


@dataclass(slots=True)
class PollAgain:
    """Not finished, or a transient error (its `reason`): look again at `at`."""

    at: datetime
    delay_s: float
    reason: str | None = None


@dataclass(slots=True)
class Fetch:
    """Finished: copy the video to our storage, then complete the job."""

    video: VideoRef


@dataclass(slots=True)
class Resubmit:
    """The operation failed on the upstream's side: back to waiting, to be submitted anew (a
    new attempt) no sooner than `at`."""

    at: datetime
    delay_s: float
    reason: str


def resubmits_left(operation_resubmits: int, submit_attempts: int, settings: Settings) -> int:
    """How many new submissions a failed operation may still get: bounded per job, and by the
    submit attempts (a resubmission is one)."""
    if submit_attempts >= settings.submit_max_attempts:
        return 0
    return max(0, OPERATION_RESUBMITS_MAX - operation_resubmits)


def early_window_s(settings: Settings) -> float:
    """How early a poll may be claimed: half a tick, so a tick's polls fall within half a tick
    either side of their due times instead of up to a whole tick after them (on average on time,
    not half a tick late: the detection lag's median drops by a quarter of a second at 0.5 s)."""
    return settings.poll_tick_s / 2


def next_poll_delay_s(
    poll_count: int,
    retry_after_s: float | None,
    settings: Settings,
    rng: random.Random | None = None,
) -> float:
    """The backoff step; a Retry-After is padded by the early window, so that a poll claimed
    early still comes no sooner than the upstream asked."""
    return backoff_s(
        poll_count,
        base_s=settings.poll_first_delay_s,
        factor=settings.poll_backoff_factor,
        cap_s=settings.poll_max_interval_s,
        retry_after_s=None if retry_after_s is None else retry_after_s + early_window_s(settings),
        jitter=POLL_JITTER,
        rng=rng,
    )


MIN_POLL_INTERVAL_S = 0.1  # below any setting's sense; keeps a schedule finite


def poll_bounds(settings: Settings) -> Bounds:
    """The limits every poll schedule keeps to, from the settings."""
    cap_s = max(settings.poll_max_interval_s, MIN_POLL_INTERVAL_S)
    floor_s = min(max(settings.poll_min_interval_s, MIN_POLL_INTERVAL_S), cap_s)
    return Bounds(first_s=settings.poll_first_delay_s, floor_s=floor_s, cap_s=cap_s)


def past_deadline(deadline_at: datetime | None, now: datetime) -> bool:
    """Whether the job has run out of time (it then fails with DEADLINE_EXCEEDED, unpolled)."""
    return deadline_at is not None and now >= deadline_at


def decide_poll(
    answer: PollResult | UpstreamTransientError | UpstreamPermanentError,
    poll_count: int,
    now: datetime,
    settings: Settings,
    rng: random.Random | None = None,
    *,
    resubmits: int = 0,
    plan: Plan | None = None,
    elapsed_s: float | None = None,
) -> PollAgain | Fetch | Resubmit | Failure:
    """What one look at an operation (after `poll_count` earlier ones, `elapsed_s` after it
    reached the upstream) decides, from the poll's result or the error the adapter classified
    (also a failed download's). A running operation is looked at again when `plan` (the
    predictive schedule) says, or, without one, after the geometric backoff step; an error
    always backs off, honouring the upstream's Retry-After. `resubmits` is how many new
    submissions the job may still get (`resubmits_left`)."""
    if isinstance(answer, PollResult):  # first: most looks find the operation still running
        if not answer.done:
            if plan is not None and elapsed_s is not None:
                delay_s = plan.next_delay_s(elapsed_s)
            else:
                delay_s = next_poll_delay_s(poll_count, None, settings, rng)
            return PollAgain(now + timedelta(seconds=delay_s), delay_s)
        if answer.failure is not None:
            failure = answer.failure
            if isinstance(failure, UpstreamResubmittable) and resubmits > 0:
                delay_s = backoff_s(
                    0, base_s=settings.submit_retry_delay_s, cap_s=SUBMIT_RETRY_CAP_S, rng=rng
                )
                return Resubmit(now + timedelta(seconds=delay_s), delay_s, failure.message)
            return Failure(failure.code, failure.message, refund=failure.refund)
        assert answer.video is not None  # a finished operation has a video or a failure
        return Fetch(answer.video)
    if isinstance(answer, UpstreamTransientError):
        delay_s = next_poll_delay_s(poll_count, answer.retry_after_s, settings, rng)
        return PollAgain(now + timedelta(seconds=delay_s), delay_s, answer.message)
    return Failure(answer.code, answer.message, refund=answer.refund)
