"""What one look at an operation decides (worker/tasks/decisions.py): look again (when), fetch
the video, or fail (refunded or not); and when a job is out of time."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.lifecycle import Failure
from tests.support.fake_upstream import (
    RUNNING,
    VIDEO_BYTES,
    Answer,
    finished,
    generation_failed,
    operation_failed,
    quota_exceeded,
    rejected,
    retired_model,
    unavailable,
)
from tests.support.settings import ExplicitSettings
from worker.tasks.decisions import (
    Fetch,
    PollAgain,
    Resubmit,
    decide_poll,
    early_window_s,
    next_poll_delay_s,
    past_deadline,
    resubmits_left,
)
from worker.upstream.base import VideoRef

SETTINGS = ExplicitSettings(
    poll_first_delay_s=5, poll_backoff_factor=1.5, poll_max_interval_s=30, poll_tick_s=0.5
)
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def again(delay_s: float, reason: str | None = None) -> PollAgain:
    return PollAgain(NOW + timedelta(seconds=delay_s), delay_s, reason)


@pytest.mark.parametrize(
    ("answer", "poll_count", "decision"),
    [
        # still running: the backoff step of this look (5 s, x1.5, capped at 30 s)
        pytest.param(RUNNING, 0, again(5), id="running-first"),
        pytest.param(RUNNING, 2, again(11.25), id="running-third"),
        pytest.param(RUNNING, 10, again(30), id="running-capped"),
        # transient: the same step, or Retry-After plus the early-claim window if that is later
        pytest.param(unavailable(503), 0, again(5, "upstream answered 503"), id="503"),
        pytest.param(
            quota_exceeded(retry_after_s=40), 0, again(40.25, "quota exceeded"), id="ra-floor"
        ),
        pytest.param(
            quota_exceeded(retry_after_s=1), 2, again(11.25, "quota exceeded"), id="ra-shorter"
        ),
        # finished: fetch the video, or fail with the upstream's verdict
        pytest.param(finished(), 3, Fetch(VideoRef(data=VIDEO_BYTES)), id="finished"),
        pytest.param(
            generation_failed("content_blocked"),
            1,
            Failure("content_blocked", "blocked by safety filters", refund=True),
            id="blocked",
        ),
        pytest.param(
            generation_failed("prompt_rejected", refund=False),
            1,
            Failure("prompt_rejected", "blocked by safety filters", refund=False),
            id="users-fault",
        ),
        # permanent errors (the poll's, or a download's): the job fails
        pytest.param(
            rejected("upstream_lost"),
            4,
            Failure("upstream_lost", "rejected by the upstream", refund=True),
            id="lost",
        ),
        pytest.param(
            retired_model(),
            0,
            Failure("upstream_config", "model is no longer available", refund=True),
            id="our-config",
        ),
    ],
)
def test_each_answer_decides_the_jobs_next_move(
    answer: Answer, poll_count: int, decision: PollAgain | Fetch | Failure, no_jitter: random.Random
) -> None:
    assert decide_poll(answer, poll_count, NOW, SETTINGS, no_jitter) == decision


def test_looks_are_jittered_by_a_tenth_of_their_step() -> None:
    """Jobs submitted together drift apart instead of polling in lockstep."""
    rng = random.Random(5)
    decisions = [decide_poll(RUNNING, 2, NOW, SETTINGS, rng) for _ in range(200)]
    delays = [decision.delay_s for decision in decisions if isinstance(decision, PollAgain)]
    assert len(delays) == len(decisions)
    assert all(11.25 * 0.9 <= delay <= 11.25 * 1.1 for delay in delays)
    assert len(set(delays)) > 150


@settings(max_examples=200, deadline=None, database=None)
@given(
    poll_count=st.integers(min_value=0, max_value=500),
    retry_after_s=st.floats(min_value=0, max_value=3600),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_a_poll_claimed_early_still_honours_retry_after(
    poll_count: int, retry_after_s: float, seed: int
) -> None:
    """A look may be claimed up to the early window before it is due, so the wait is padded."""
    delay_s = next_poll_delay_s(poll_count, retry_after_s, SETTINGS, random.Random(seed))
    assert delay_s >= retry_after_s + early_window_s(SETTINGS)
    assert delay_s <= max(SETTINGS.poll_max_interval_s, retry_after_s + early_window_s(SETTINGS))


@pytest.mark.parametrize(("tick_s", "window_s"), [(0.5, 0.25), (1.0, 0.5), (0.25, 0.125)])
def test_a_tick_claims_polls_due_within_half_a_tick(tick_s: float, window_s: float) -> None:
    assert early_window_s(ExplicitSettings(poll_tick_s=tick_s)) == window_s


@pytest.mark.parametrize(
    ("deadline_at", "passed"),
    [
        pytest.param(None, False, id="no-deadline"),
        pytest.param(NOW + timedelta(seconds=1), False, id="not-yet"),
        pytest.param(NOW, True, id="exactly-now"),
        pytest.param(NOW - timedelta(hours=1), True, id="long-past"),
    ],
)
def test_a_job_out_of_time_fails_before_it_is_looked_at(
    deadline_at: datetime | None, passed: bool
) -> None:
    assert past_deadline(deadline_at, NOW) is passed


@pytest.mark.parametrize("rpc_code", [8, 13, 14])
def test_an_operation_failed_upstream_is_submitted_anew_once(
    rpc_code: int, no_jitter: random.Random
) -> None:
    """google.rpc RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE: a new submission may succeed."""
    decision = decide_poll(operation_failed(rpc_code), 3, NOW, SETTINGS, no_jitter, resubmits=1)
    assert isinstance(decision, Resubmit)
    assert decision.at == NOW + timedelta(seconds=SETTINGS.submit_retry_delay_s)
    assert f"code {rpc_code}" in decision.reason


def test_with_no_resubmission_left_an_operation_failed_upstream_fails_the_job() -> None:
    decision = decide_poll(operation_failed(14), 3, NOW, SETTINGS, resubmits=0)
    assert isinstance(decision, Failure)
    assert (decision.code, decision.refund) == ("upstream_failed", True)


@pytest.mark.parametrize(
    ("resubmits_done", "submit_attempts", "left"),
    [
        pytest.param(0, 1, 1, id="first-operation"),
        pytest.param(1, 2, 0, id="already-resubmitted"),
        pytest.param(0, 5, 0, id="out-of-attempts"),
    ],
)
def test_a_job_gets_one_resubmission_within_its_submit_attempts(
    resubmits_done: int, submit_attempts: int, left: int
) -> None:
    settings = ExplicitSettings(submit_max_attempts=5)
    assert resubmits_left(resubmits_done, submit_attempts, settings) == left
