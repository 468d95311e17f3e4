"""The predictive poll schedule (worker/tasks/poll_schedule.py): for every plausible distribution
of Veo's completion times it spends no more upstream looks than the geometric series it
replaces, and finds finished jobs sooner."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.tasks.poll_schedule import (
    MIN_SAMPLES,
    PRIOR,
    Bounds,
    LogNormal,
    expect,
    fit,
    geometric_times,
    interval_s,
    plan,
    poll_times,
    schedule_for,
)

TODAY = Bounds(first_s=5.0, floor_s=1.0, cap_s=30.0)  # the settings' defaults
FACTOR = 1.5
examples = settings(max_examples=40, deadline=None, database=None)
medians = st.floats(min_value=5.0, max_value=300.0)
sigmas = st.floats(min_value=0.1, max_value=1.0)


def test_too_few_finished_jobs_leave_the_prior_in_place() -> None:
    assert fit([60.0] * (MIN_SAMPLES - 1)) == PRIOR


def test_a_fit_recovers_the_distribution_it_is_given() -> None:
    rng = random.Random(3)
    truth = LogNormal(90.0, 0.4)
    sample = [rng.lognormvariate(truth.mu, truth.sigma) for _ in range(5000)]
    fitted = fit(sample)
    assert fitted.median_s == pytest.approx(90.0, rel=0.03)
    assert fitted.sigma == pytest.approx(0.4, rel=0.05)


def test_the_expectations_agree_with_jobs_drawn_at_random() -> None:
    """expect() is exact; a Monte Carlo run of the same looks must land on it."""
    dist = LogNormal(75.0, 0.47)
    times = geometric_times(TODAY, FACTOR, dist.quantile(0.99999))
    rng = random.Random(11)
    polls = lags = 0.0
    runs = 20_000
    for _ in range(runs):
        done = rng.lognormvariate(dist.mu, dist.sigma)
        seen = next(t for t in times if t >= done)
        polls += times.index(seen) + 1
        lags += seen - done
    expected = expect(dist, times)
    assert polls / runs == pytest.approx(expected.polls, rel=0.02)
    assert lags / runs == pytest.approx(expected.lag_s, rel=0.03)


@examples
@given(medians, sigmas)
def test_never_more_looks_than_the_geometric_series_and_never_later(
    median: float, sigma: float
) -> None:
    _, new, old = schedule_for(median, sigma, TODAY, FACTOR)
    assert new.polls <= old.polls * 1.001
    assert new.lag_s <= old.lag_s * 1.001


def test_on_veo_s_own_distribution_a_job_is_seen_in_less_than_half_the_time() -> None:
    _, new, old = schedule_for(PRIOR.median_s, PRIOR.sigma, TODAY, FACTOR)
    assert new.lag_s <= old.lag_s / 2


def test_looks_are_densest_where_most_jobs_finish() -> None:
    dist = LogNormal(75.0, 0.47)
    lam, _, _ = schedule_for(dist.median_s, dist.sigma, TODAY, FACTOR)
    early, bulk, tail = (interval_s(t, dist, lam, TODAY) for t in (10.0, 75.0, 600.0))
    assert bulk < early
    assert bulk < tail


@examples
@given(medians, sigmas, st.floats(min_value=0.0, max_value=3600.0))
def test_every_interval_keeps_to_the_floor_and_the_cap(
    median: float, sigma: float, elapsed: float
) -> None:
    dist = LogNormal(median, sigma)
    lam, _, _ = schedule_for(median, sigma, TODAY, FACTOR)
    assert TODAY.floor_s <= interval_s(elapsed, dist, lam, TODAY) <= TODAY.cap_s


def test_a_first_delay_of_zero_still_makes_a_finite_schedule() -> None:
    """Tests and impatient operators set the first delay to 0; the floor keeps steps apart."""
    bounds = Bounds(first_s=0.0, floor_s=1.0, cap_s=30.0)
    _, new, old = schedule_for(PRIOR.median_s, PRIOR.sigma, bounds, FACTOR)
    assert new.polls <= old.polls * 1.001


def test_until_enough_jobs_have_finished_the_geometric_series_stands() -> None:
    assert plan([75.0] * (MIN_SAMPLES - 1), TODAY, FACTOR) is None
    fitted = plan([75.0, 80.0] * MIN_SAMPLES, TODAY, FACTOR)
    assert fitted is not None
    assert fitted.dist.median_s == pytest.approx(77.5, rel=0.02)


def test_the_first_look_is_at_the_configured_first_delay() -> None:
    assert poll_times(PRIOR, 1.0, TODAY, 100.0)[0] == TODAY.first_s


def test_only_settled_jobs_teach_the_schedule() -> None:
    """Right after a burst only its quick jobs have finished: they are not taken as the whole
    distribution until jobs that started as long ago have had time to finish too."""
    from shared.estimates import settled

    now = 10_000.0
    stored = ["40.000@9950", "45.000@9900", "80.000@9000", "90.500@8000", "70.000"]
    assert settled(stored, now - 300) == [80.0, 90.5, 70.0]
