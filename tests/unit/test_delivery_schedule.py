"""What follows a webhook delivery attempt (worker.tasks.delivery_schedule): delivered, retried
on the schedule, or given up; and when the receiver's endpoint is disabled."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.states import DeliveryMove
from worker.tasks.delivery_schedule import Attempt, after_attempt, next_attempt_delay_s

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SCHEDULE_S = [5.0, 300.0, 1800.0]
DISABLE_AFTER_S = 5 * 24 * 3600.0
HOUR = timedelta(hours=1)
LONG_AGO = NOW - timedelta(seconds=DISABLE_AFTER_S) - HOUR
OK, SERVER_ERROR, GONE = Attempt(200), Attempt(500, "HTTP 500"), Attempt(410, "HTTP 410")
TIMEOUT = Attempt(error="ReadTimeout: timed out")
REFUSED = Attempt(error="webhookUrl resolves to a private address", permanent=True)


@pytest.mark.parametrize(
    ("attempt", "attempts", "failing_since", "disabled", "move", "retry_base_s", "disable"),
    [
        # any 2xx delivers, and the endpoint is healthy again
        (OK, 1, None, False, DeliveryMove.DELIVER, None, None),
        (Attempt(204), 3, NOW - HOUR, False, DeliveryMove.DELIVER, None, None),
        # other answers and errors follow the schedule: the n-th attempt waits its n-th delay
        (SERVER_ERROR, 1, None, False, DeliveryMove.RETRY, 5.0, None),
        (TIMEOUT, 2, NOW - HOUR, False, DeliveryMove.RETRY, 300.0, None),
        (Attempt(302, "HTTP 302"), 3, NOW - HOUR, False, DeliveryMove.RETRY, 1800.0, None),
        # ... until it is spent
        (SERVER_ERROR, 4, NOW - HOUR, False, DeliveryMove.GIVE_UP, None, None),
        # 410 Gone disables the endpoint at once
        (GONE, 1, None, False, DeliveryMove.GIVE_UP, None, "answered 410 Gone"),
        # failing for longer than the limit disables it; a shorter failing period does not
        (SERVER_ERROR, 2, LONG_AGO, False, DeliveryMove.GIVE_UP, None, "failing for too long"),
        (TIMEOUT, 2, NOW - 2 * HOUR, False, DeliveryMove.RETRY, 300.0, None),
        # a URL the SSRF guard refuses, or a disabled endpoint: retrying cannot help
        (REFUSED, 1, None, False, DeliveryMove.GIVE_UP, None, None),
        (Attempt(error="endpoint disabled: x", permanent=True), 1, NOW, True,
         DeliveryMove.GIVE_UP, None, None),
        (SERVER_ERROR, 1, NOW - HOUR, True, DeliveryMove.GIVE_UP, None, None),
    ],
)  # fmt: skip
def test_after_an_attempt(
    attempt: Attempt,
    attempts: int,
    failing_since: datetime | None,
    disabled: bool,
    move: DeliveryMove,
    retry_base_s: float | None,
    disable: str | None,
) -> None:
    """The move, the jittered delay of a retry, the endpoint's failing period and disabling."""
    outcome = after_attempt(
        attempt,
        attempts=attempts,
        failing_since=failing_since,
        endpoint_disabled=disabled,
        now=NOW,
        disable_after_s=DISABLE_AFTER_S,
        delays_s=SCHEDULE_S,
        rng=random.Random(attempts),
    )
    assert outcome.move is move
    assert outcome.disable_reason == disable
    if retry_base_s is None:
        assert outcome.retry_in_s is None
    else:
        assert outcome.retry_in_s is not None
        assert 0.8 * retry_base_s <= outcome.retry_in_s <= 1.2 * retry_base_s
    # a success ends the failing period; a failure starts it, or keeps its start
    expected_since = None if attempt.succeeded else (failing_since or NOW)
    assert outcome.failing_since == expected_since


def test_retry_delays_are_jittered_within_a_fifth_of_the_schedule() -> None:
    """Receivers that failed together are not all retried at the same instant."""
    rng = random.Random(3)
    delays = [next_attempt_delay_s(2, SCHEDULE_S, rng=rng) for _ in range(50)]
    assert all(d is not None and 240.0 <= d <= 360.0 for d in delays)
    assert len(set(delays)) > 40


@pytest.mark.parametrize(("attempts", "expected"), [(3, 1800.0), (4, None), (10, None)])
def test_the_schedule_ends(attempts: int, expected: float | None) -> None:
    """After as many attempts as the schedule has delays, there is no next one."""
    delay = next_attempt_delay_s(attempts, SCHEDULE_S, rng=random.Random(0))
    if expected is None:
        assert delay is None
    else:
        assert delay is not None
        assert 0.8 * expected <= delay <= 1.2 * expected


@pytest.mark.parametrize(
    ("status_code", "succeeded"),
    [(None, False), (199, False), (200, True), (299, True), (300, False)],
)
def test_only_2xx_is_success(status_code: int | None, succeeded: bool) -> None:
    """A redirect is not followed, so it is a failed attempt like any other non-2xx."""
    assert Attempt(status_code).succeeded is succeeded
