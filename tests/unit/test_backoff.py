"""The one backoff policy (worker/backoff.py): exponential, capped, jittered, and never sooner
than the upstream's Retry-After."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.backoff import backoff_s

EPSILON = 1e-9
# Realistic ranges (a step is at most minutes): past them, factor ** attempt leaves the floats.
attempts = st.integers(min_value=-3, max_value=200)
bases = st.floats(min_value=0.01, max_value=100)
factors = st.floats(min_value=1.0, max_value=3.0)
caps = st.floats(min_value=0.01, max_value=3600)
jitters = st.floats(min_value=0.0, max_value=0.9)
seeds = st.integers(min_value=0, max_value=2**32)
retry_afters = st.floats(min_value=0.0, max_value=86_400)
examples = settings(max_examples=200, deadline=None, database=None)


@pytest.mark.parametrize(
    ("attempt", "expected"), [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (10, 30.0)]
)
def test_grows_exponentially_up_to_the_cap(attempt: int, expected: float) -> None:
    assert backoff_s(attempt, base_s=1, cap_s=30, jitter=0) == expected


def test_jitter_spreads_a_herd_within_bounds() -> None:
    rng = random.Random(7)
    delays = {round(backoff_s(2, base_s=1, cap_s=30, jitter=0.2, rng=rng), 6) for _ in range(50)}
    assert len(delays) > 40
    assert all(3.2 <= d <= 4.8 for d in delays)


def test_retry_after_is_a_floor_even_above_the_cap() -> None:
    assert backoff_s(0, base_s=1, cap_s=30, retry_after_s=45, jitter=0.2) == 45
    assert backoff_s(4, base_s=1, cap_s=30, retry_after_s=2, jitter=0) == 16


@examples
@given(attempts, bases, factors, caps, jitters, seeds)
def test_a_delay_lies_within_the_jitter_of_its_capped_step(
    attempt: int, base_s: float, factor: float, cap_s: float, jitter: float, seed: int
) -> None:
    """Jitter moves a step by at most its share either way, and never past the cap."""
    step = min(cap_s, base_s * factor ** max(attempt, 0))
    delay = backoff_s(
        attempt, base_s=base_s, factor=factor, cap_s=cap_s, jitter=jitter, rng=random.Random(seed)
    )
    assert step * (1 - jitter) - EPSILON <= delay <= min(cap_s, step * (1 + jitter)) + EPSILON


@examples
@given(attempts, bases, factors, caps, jitters, seeds, retry_afters)
def test_retry_after_only_ever_lengthens_a_delay(
    attempt: int,
    base_s: float,
    factor: float,
    cap_s: float,
    jitter: float,
    seed: int,
    retry_after_s: float,
) -> None:
    """With the same draw of jitter, a Retry-After turns the delay into the larger of the two."""

    def delay(retry_after: float | None) -> float:
        return backoff_s(
            attempt,
            base_s=base_s,
            factor=factor,
            cap_s=cap_s,
            jitter=jitter,
            retry_after_s=retry_after,
            rng=random.Random(seed),
        )

    assert delay(retry_after_s) == max(delay(None), retry_after_s)


@examples
@given(attempts, bases, factors, caps)
def test_without_jitter_a_later_attempt_never_waits_less(
    attempt: int, base_s: float, factor: float, cap_s: float
) -> None:
    """The steps grow until the cap, then stay there."""
    earlier = backoff_s(attempt, base_s=base_s, factor=factor, cap_s=cap_s, jitter=0)
    later = backoff_s(attempt + 1, base_s=base_s, factor=factor, cap_s=cap_s, jitter=0)
    assert earlier <= later <= cap_s
