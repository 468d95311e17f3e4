import random

import pytest

from worker.backoff import backoff_s


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
