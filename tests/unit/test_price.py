"""What a job costs: its `credits_charged` (today's `credits_per_generation`) is taken once when
it is accepted, and given back once if it fails, unless the failure was the user's own fault
(shared/lifecycle.py: refund_due). tests/tasks checks the balances the tasks leave."""

import pytest

from shared.lifecycle import Failure, refund_due
from shared.states import JobStatus
from tests.support.settings import ExplicitSettings
from worker.tasks.decisions import DEADLINE_EXCEEDED, GAVE_UP_REFUSED, GAVE_UP_SILENT


def test_a_generation_costs_the_configured_price() -> None:
    assert ExplicitSettings().credits_per_generation == 2  # the documented default
    assert ExplicitSettings(credits_per_generation=5).credits_per_generation == 5


@pytest.mark.parametrize(
    ("target", "failure", "refunded"),
    [
        pytest.param(JobStatus.FAILED, Failure("upstream_error", "boom"), True, id="upstream"),
        pytest.param(JobStatus.FAILED, None, True, id="no-reason"),
        pytest.param(
            JobStatus.FAILED,
            Failure("image_unavailable", "could not fetch", refund=False),
            False,
            id="users-fault",
        ),
        pytest.param(JobStatus.COMPLETED, None, False, id="completed"),
        pytest.param(JobStatus.PROCESSING, None, False, id="processing"),
        pytest.param(JobStatus.PENDING, None, False, id="retried"),
        pytest.param(JobStatus.SUBMITTING, None, False, id="submitting"),
    ],
)
def test_only_a_failure_that_is_not_the_users_fault_gives_the_credits_back(
    target: JobStatus, failure: Failure | None, refunded: bool
) -> None:
    assert refund_due(target, failure) is refunded


@pytest.mark.parametrize("failure", [GAVE_UP_REFUSED, GAVE_UP_SILENT, DEADLINE_EXCEEDED])
def test_the_pipelines_own_failures_are_refunded_and_say_so(failure: Failure) -> None:
    assert refund_due(JobStatus.FAILED, failure)
    assert "credits refunded" in failure.message
