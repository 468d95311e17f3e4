import pytest

from shared.estimates import pending_estimate, processing_estimate


def test_progress_rises_with_elapsed_time_and_never_reaches_100() -> None:
    values = [processing_estimate(elapsed, 60).progress for elapsed in range(0, 600, 5)]
    assert values == sorted(values)
    assert values[0] < 10
    assert max(values) <= 99


def test_remaining_time_shrinks_and_stays_positive() -> None:
    remaining = [processing_estimate(elapsed, 60).remaining_s for elapsed in range(0, 600, 5)]
    assert remaining[0] == 60
    assert all(r >= 1 for r in remaining)
    assert remaining[-1] < remaining[0]


@pytest.mark.parametrize("typical", [10.0, 90.0, 300.0])
def test_estimate_follows_recent_durations(typical: float) -> None:
    assert processing_estimate(typical / 2, typical).remaining_s == round(typical / 2)


def test_queued_jobs_wait_longer_the_further_back_they_are() -> None:
    near, far = pending_estimate(0, 60, parallel=10), pending_estimate(35, 60, parallel=10)
    assert near.progress == far.progress == 0
    assert far.remaining_s == 4 * near.remaining_s
