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
    """With a quota to spare, the in-flight cap paces the queue: 35 ahead of 10 slots."""
    near = pending_estimate(0, 60, parallel=10, submits_per_s=100)
    far = pending_estimate(35, 60, parallel=10, submits_per_s=100)
    assert near.progress == far.progress == 0
    assert (near.remaining_s, far.remaining_s) == (60, 60 + 35 * 6)


def test_a_queue_behind_the_submit_quota_waits_one_token_per_job_ahead() -> None:
    """5,000 ahead at 50 submits a minute: 100 minutes, then its own generation."""
    estimate = pending_estimate(5000, 90, parallel=1000, submits_per_s=50 / 60)
    assert estimate.remaining_s == 6000 + 90
