"""What a job costs: its `credits_charged` (from the price table, shared/pricing.py) is taken
once when it is accepted, and given back once if it fails, unless the failure was the user's own
fault (shared/lifecycle.py: refund_due). tests/tasks checks the balances the tasks leave."""

import json

import pytest
from pydantic import ValidationError

from shared.capabilities import Options
from shared.job_options import default_credits, resolve
from shared.lifecycle import Failure, refund_due
from shared.pricing import DEFAULT_PRICE_TABLE, NoPrice, credits_for
from shared.states import JobStatus
from tests.support.settings import ExplicitSettings
from worker.tasks.decisions import DEADLINE_EXCEEDED, GAVE_UP_REFUSED, GAVE_UP_SILENT


def priced(table: str = DEFAULT_PRICE_TABLE, **given: object) -> int:
    return credits_for(resolve(given, ExplicitSettings()), table)


def test_the_seeds_request_costs_what_it_always_did() -> None:
    assert default_credits(ExplicitSettings()) == 2  # veo-3.1, 8 s, 720p, with audio


@pytest.mark.parametrize(
    ("given", "credits"),
    [
        pytest.param({}, 2, id="default"),
        pytest.param({"durationSeconds": 4}, 1, id="4s"),
        pytest.param({"durationSeconds": 6}, 2, id="6s-rounded-up"),
        pytest.param({"resolution": "1080p"}, 2, id="1080p"),
        pytest.param({"resolution": "4k"}, 3, id="4k"),
        pytest.param({"generateAudio": False}, 1, id="silent"),
        pytest.param({"sampleCount": 4}, 8, id="4-samples"),
        pytest.param({"sampleCount": 3, "resolution": "4k"}, 9, id="3-samples-4k"),
        pytest.param({"model": "veo-3.1-fast"}, 1, id="fast"),
        pytest.param({"model": "veo-3.1-fast", "sampleCount": 4}, 3, id="fast-4-samples"),
    ],
)
def test_default_prices_follow_seconds_resolution_audio_and_samples(
    given: dict[str, object], credits: int
) -> None:
    assert priced(**given) == credits


def test_an_operators_table_sets_the_price_exactly() -> None:
    table = json.dumps({"veo-3.1": {"720p": {"audio": 0.1, "silent": 0}}})
    assert priced(table, durationSeconds=6, sampleCount=4, generateAudio=True) == 3  # 2.4 up
    assert priced(table, generateAudio=False) == 1  # never free
    with pytest.raises(NoPrice):
        priced(table, resolution="4k")


@pytest.mark.parametrize(
    "table",
    ['["veo-3.1"]', '{"veo-3.1": {"720p": {"loud": 1}}}', '{"veo-3.1": {"720p": {"audio": -1}}}'],
)
def test_a_malformed_price_table_is_refused_when_settings_are_read(table: str) -> None:
    with pytest.raises(ValidationError, match="price_table"):
        ExplicitSettings(price_table=table)


def test_settings_keep_the_process_wide_defaults() -> None:
    settings = ExplicitSettings(
        duration_s=6, negative_prompt="blur", model="veo-3.1-fast-generate-001"
    )
    assert resolve({}, settings) == Options("veo-3.1-fast", 6, "720p", "blur", None, True, 1)
    assert resolve({"durationSeconds": 8}, settings).duration_s == 8


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
