"""What follows one webhook delivery attempt: delivered, tried again later, or given up; and
whether the receiver's endpoint is to be disabled.

Pure functions of the attempt, the endpoint's health and the retry schedule (the settings are
passed in), so the deliver task only carries the decision out.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.states import DeliveryMove
from worker.backoff import backoff_s


@dataclass(frozen=True)
class Attempt:
    """What one attempt achieved: a status code, or an error before any answer."""

    status_code: int | None = None
    error: str | None = None
    permanent: bool = False  # the URL is refused by the SSRF guard: retrying cannot help

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Outcome:
    """The decision after one attempt."""

    move: DeliveryMove  # DELIVER, RETRY or GIVE_UP
    retry_in_s: float | None = None  # RETRY only: when the next attempt is due
    failing_since: datetime | None = None  # the endpoint's, after this attempt
    disable_reason: str | None = None  # set when the endpoint is to be disabled


def next_attempt_delay_s(
    attempts: int, delays_s: Sequence[float], *, rng: random.Random | None = None
) -> float | None:
    """Seconds until the next try after `attempts` tries, or None when the schedule is spent:
    the schedule's delay for that try, jittered by up to ±20 % so receivers that failed
    together are not retried together."""
    if attempts > len(delays_s):
        return None
    delay = delays_s[attempts - 1]
    return backoff_s(0, base_s=delay, factor=1.0, cap_s=delay * 1.2, rng=rng)


def after_attempt(
    attempt: Attempt,
    *,
    attempts: int,
    failing_since: datetime | None,
    endpoint_disabled: bool,
    now: datetime,
    disable_after_s: float,
    delays_s: Sequence[float],
    rng: random.Random | None = None,
) -> Outcome:
    """Decide what follows the `attempts`-th attempt of a delivery to an endpoint that has been
    failing since `failing_since` (None: it is healthy).

    A 2xx delivers and makes the endpoint healthy. Any other result starts (or continues) its
    failing period; a 410, or failing for longer than `disable_after_s`, disables it. The
    delivery is retried on the schedule unless the URL is refused, the endpoint is (now)
    disabled, or the schedule is spent: then it is given up.
    """
    if attempt.succeeded:
        return Outcome(DeliveryMove.DELIVER)
    failing_since = failing_since or now
    reason = None
    if attempt.status_code == 410:
        reason = "answered 410 Gone"
    elif now - failing_since > timedelta(seconds=disable_after_s):
        reason = "failing for too long"
    delay_s = (
        None
        if attempt.permanent or endpoint_disabled or reason is not None
        else next_attempt_delay_s(attempts, delays_s, rng=rng)
    )
    move = DeliveryMove.GIVE_UP if delay_s is None else DeliveryMove.RETRY
    return Outcome(move, delay_s, failing_since, reason)
