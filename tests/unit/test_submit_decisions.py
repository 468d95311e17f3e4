"""What the submit step decides (worker/tasks/decisions.py), for every answer the upstream can
give: store the operation, try again later (how much later), or fail (refunded or not)."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import UpstreamPermanentError, UpstreamTransientError
from shared.lifecycle import Failure
from tests.support.fake_upstream import (
    no_answer,
    quota_exceeded,
    rejected,
    retired_model,
    unavailable,
)
from tests.support.settings import ExplicitSettings
from worker.tasks.decisions import (
    OUTCOME_UNKNOWN,
    Accepted,
    RetryLater,
    attempts_exhausted,
    decide_submit,
    processing_values,
)

SETTINGS = ExplicitSettings(
    submit_retry_delay_s=5, submit_max_attempts=5, poll_first_delay_s=4, job_deadline_s=1200
)
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("answer", "attempt", "decision"),
    [
        pytest.param("operations/1", 1, Accepted("operations/1"), id="accepted"),
        # transient: the backoff step of this attempt (5 s doubling, capped at 60 s)
        pytest.param(quota_exceeded(), 1, RetryLater(5, "quota exceeded"), id="429-first"),
        pytest.param(quota_exceeded(), 2, RetryLater(10, "quota exceeded"), id="429-second"),
        pytest.param(unavailable(503), 4, RetryLater(40, "upstream answered 503"), id="503-fourth"),
        pytest.param(unavailable(502), 5, RetryLater(60, "upstream answered 502"), id="capped"),
        # Retry-After: a floor over the step, even above the cap; never shortens it
        pytest.param(
            quota_exceeded(retry_after_s=12), 1, RetryLater(12, "quota exceeded"), id="ra-floor"
        ),
        pytest.param(
            quota_exceeded(retry_after_s=90), 1, RetryLater(90, "quota exceeded"), id="ra-over-cap"
        ),
        pytest.param(
            quota_exceeded(retry_after_s=1), 3, RetryLater(20, "quota exceeded"), id="ra-shorter"
        ),
        # permanent: the adapter's code and refund flag become the job's failure
        pytest.param(
            rejected("upstream_error"),
            1,
            Failure("upstream_error", "rejected by the upstream", refund=True),
            id="rejected",
        ),
        pytest.param(
            rejected("prompt_rejected", refund=False),
            2,
            Failure("prompt_rejected", "rejected by the upstream", refund=False),
            id="users-fault",
        ),
        pytest.param(
            retired_model(),
            1,
            Failure("upstream_config", "model is no longer available", refund=True),
            id="our-config",
        ),
    ],
)
def test_each_answer_decides_the_submits_next_move(
    answer: str | UpstreamTransientError | UpstreamPermanentError,
    attempt: int,
    decision: Accepted | RetryLater | Failure,
    no_jitter: random.Random,
) -> None:
    assert decide_submit(answer, attempt, SETTINGS, no_jitter) == decision


def test_a_retry_is_jittered_within_a_fifth_of_its_step() -> None:
    """A herd refused together does not come back together."""
    rng = random.Random(3)
    decisions = [decide_submit(quota_exceeded(), 2, SETTINGS, rng) for _ in range(200)]
    delays = [decision.delay_s for decision in decisions if isinstance(decision, RetryLater)]
    assert len(delays) == len(decisions)
    assert all(8 <= delay <= 12 for delay in delays)
    assert len(set(delays)) > 150


@pytest.mark.parametrize(
    ("attempts_used", "exhausted"), [(0, False), (4, False), (5, True), (6, True)]
)
def test_a_job_may_be_submitted_at_most_submit_max_attempts_times(
    attempts_used: int, exhausted: bool
) -> None:
    assert attempts_exhausted(attempts_used, SETTINGS) is exhausted


def test_an_accepted_job_is_first_polled_after_the_first_delay_and_has_a_deadline() -> None:
    assert processing_values("operations/7", NOW, SETTINGS) == {
        "upstream_operation": "operations/7",
        "next_poll_at": NOW + timedelta(seconds=4),
        "deadline_at": NOW + timedelta(seconds=1200),
        "poll_count": 0,
    }


@pytest.mark.parametrize("attempt", [1, 3])
def test_a_submit_of_unknown_outcome_fails_refunded_and_is_not_sent_again(attempt: int) -> None:
    """The default policy: the upstream may have accepted (and billed) it, so a second
    submission could be a second paid generation; the job fails and its credits come back."""
    decision = decide_submit(no_answer(), attempt, SETTINGS)
    assert decision == OUTCOME_UNKNOWN
    assert isinstance(decision, Failure)
    assert decision.code == "upstream_outcome_unknown"
    assert decision.refund is True


def test_the_retry_policy_submits_an_unknown_outcome_again_with_backoff(
    no_jitter: random.Random,
) -> None:
    """VEO_UNKNOWN_SUBMIT_POLICY=retry accepts the risk of paying twice upstream: the job goes
    back to waiting like a transient error (bounded by the attempts)."""
    retrying = ExplicitSettings(
        submit_retry_delay_s=5, submit_max_attempts=5, unknown_submit_policy="retry"
    )
    decision = decide_submit(no_answer(), 2, retrying, no_jitter)
    assert decision == RetryLater(10, "upstream submit failed: ReadTimeout: timed out")


def test_the_default_policy_is_fail() -> None:
    assert ExplicitSettings().unknown_submit_policy == "fail"
