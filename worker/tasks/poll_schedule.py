"""When to look at an operation next: often where Veo usually finishes, seldom elsewhere.

A geometric series (5 s, x1.5, capped at 30 s) polls most often in the first seconds, when no
Veo job is done yet, and least often through the bulk of completions (45-150 s), where each
late detection costs the user most. Given the distribution of completion times T (log-normal,
fitted to recent jobs of the same kind), poll times placed with density

    n(t) = sqrt(h(t) / 2λ),   h(t) = f(t) / S(t)  (the hazard: the chance per second that a
                                                   job still running finishes now)

(each wait lasts until one unit of n has accumulated from the last look)

minimise the expected detection lag for an expected number of polls (the continuous
approximation: lag ≈ ∫ f/2n dt, polls ≈ ∫ n·S dt, and Lagrange's condition gives n). λ is chosen
so that a job spends on average BUDGET_SHARE (95 %) of what the geometric schedule would spend on
the same distribution (all of it where 95 % would be later): the new schedule never costs more
upstream polls, by construction.

Everything here is a pure function of the distribution and the settings; the interval is
computed from the time since the job reached the upstream, so a late or missed poll does not
shift the rest of the schedule.
"""

import bisect
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

# Until this many jobs of a kind have finished, the prior stands for them.
MIN_SAMPLES = 8
# Veo 3.1 in practice: median ~75 s, 10th-90th percentile ~45-150 s (docs/simulator.md).
PRIOR_MEDIAN_S = 75.0
PRIOR_SIGMA = 0.47
SIGMA_FLOOR = 0.08  # a fit of near-identical durations would otherwise claim certainty
HORIZON_QUANTILE = 0.999  # the schedule's expectations are computed up to here
# The share of the geometric series' expected polls the schedule is calibrated to: a margin
# for a fit that is not quite the upstream's distribution (the whole budget where the margin
# would make it later than the geometric series).
BUDGET_SHARE = 0.95


@dataclass(frozen=True)
class LogNormal:
    """The completion-time distribution: ln T ~ Normal(ln median, sigma)."""

    median_s: float
    sigma: float

    @property
    def mu(self) -> float:
        return math.log(self.median_s)

    def _z(self, t: float) -> float:
        return (math.log(t) - self.mu) / self.sigma

    def cdf(self, t: float) -> float:
        return 0.0 if t <= 0 else 0.5 * math.erfc(-self._z(t) / math.sqrt(2))

    def sf(self, t: float) -> float:
        return 1.0 if t <= 0 else 0.5 * math.erfc(self._z(t) / math.sqrt(2))

    def pdf(self, t: float) -> float:
        if t <= 0:
            return 0.0
        z = self._z(t)
        return math.exp(-0.5 * z * z) / (t * self.sigma * math.sqrt(2 * math.pi))

    def hazard(self, t: float) -> float:
        survival = self.sf(t)
        return self.pdf(t) / survival if survival > 1e-300 else 1.0 / max(t, 1e-9)

    def partial_mean(self, a: float, b: float) -> float:
        """∫ x f(x) dx over [a, b]."""

        def phi(x: float) -> float:
            if x <= 0:
                return 0.0
            z = (math.log(x) - self.mu - self.sigma**2) / self.sigma
            return 0.5 * math.erfc(-z / math.sqrt(2))

        return math.exp(self.mu + self.sigma**2 / 2) * (phi(b) - phi(a))

    def quantile(self, p: float) -> float:
        return math.exp(self.mu + self.sigma * statistics.NormalDist().inv_cdf(p))


PRIOR = LogNormal(PRIOR_MEDIAN_S, PRIOR_SIGMA)


def fit(durations_s: Iterable[float], prior: LogNormal = PRIOR) -> LogNormal:
    """The log-normal of recent completion times (seconds upstream); the prior with too few."""
    logs = [math.log(d) for d in durations_s if d > 0]
    if len(logs) < MIN_SAMPLES:
        return prior
    return LogNormal(math.exp(statistics.fmean(logs)), max(statistics.stdev(logs), SIGMA_FLOOR))


@dataclass(frozen=True)
class Bounds:
    """What any interval must respect: the settings' floor and cap, and the first look."""

    first_s: float  # no look before this (the upstream has barely started)
    floor_s: float  # the closest two looks may be
    cap_s: float  # the longest any job waits between looks

    def __post_init__(self) -> None:
        if not 0 < self.floor_s <= self.cap_s:
            raise ValueError("a poll schedule needs 0 < floor <= cap")


GRID_S = 0.1  # resolution of the poll density's integral


def interval_s(elapsed_s: float, dist: LogNormal, lam: float, bounds: Bounds) -> float:
    """The wait before the next look at a job `elapsed_s` seconds after it reached upstream:
    until one unit of the poll density n has accumulated from now, so that a look is not
    placed past the start of the bulk because the hazard is still low where the wait begins.
    n = sqrt(h / 2λ), so the unit is reached where ∫ sqrt(h) grows by sqrt(2λ)."""
    grid = _root_hazard_integral(dist, bounds.cap_s)
    start = elapsed_s / GRID_S
    if start >= len(grid) - 1:
        return bounds.cap_s  # past the horizon the hazard only falls
    low = int(start)
    here = grid[low] + (grid[low + 1] - grid[low]) * (start - low)
    reached = bisect.bisect_left(grid, here + math.sqrt(2 * lam), lo=low)
    waited = reached * GRID_S - elapsed_s
    return min(bounds.cap_s, max(bounds.floor_s, waited))


@lru_cache(maxsize=64)
def _root_hazard_integral(dist: LogNormal, cap_s: float) -> list[float]:
    """∫ sqrt(h(s)) ds from 0 to each multiple of GRID_S, up to the horizon plus one cap: built
    once per distribution, so that every look and every calibration step is a bisection."""
    points = int((dist.quantile(HORIZON_QUANTILE) + cap_s) / GRID_S) + 2
    grid, total = [0.0], 0.0
    for i in range(1, points):
        total += math.sqrt(dist.hazard((i - 0.5) * GRID_S)) * GRID_S
        grid.append(total)
    return grid


def poll_times(dist: LogNormal, lam: float, bounds: Bounds, horizon_s: float) -> list[float]:
    """The times (seconds after submit) this schedule looks at a job, up to `horizon_s`."""
    times = [bounds.first_s]
    while times[-1] < horizon_s:
        times.append(times[-1] + interval_s(times[-1], dist, lam, bounds))
    return times


def geometric_times(bounds: Bounds, factor: float, horizon_s: float) -> list[float]:
    """The fixed series this schedule replaces (first delay, x factor, capped), as the same kind
    of list; no step is shorter than the floor."""
    times, step = [bounds.first_s], bounds.first_s
    while times[-1] < horizon_s:
        times.append(times[-1] + max(bounds.floor_s, step))
        step = min(bounds.cap_s, step * factor)
    return times


@dataclass(frozen=True)
class Expectation:
    polls: float  # upstream looks per job
    lag_s: float  # time from the upstream finishing to our look that sees it


def expect(dist: LogNormal, times: Sequence[float]) -> Expectation:
    """What looks at `times` cost and achieve on `dist`, exactly (no simulation): look i happens
    when the job was not done at look i-1; a job done in (t[i-1], t[i]] is seen at t[i]."""
    polls, lag, previous = 0.0, 0.0, 0.0
    for t in times:
        polls += dist.sf(previous)
        mass = dist.cdf(t) - dist.cdf(previous)
        lag += t * mass - dist.partial_mean(previous, t)
        previous = t
    return Expectation(polls, lag)


def calibrate(dist: LogNormal, budget_polls: float, bounds: Bounds) -> float:
    """The λ whose schedule spends `budget_polls` looks per job on average (bisection on log λ:
    a larger λ means longer intervals and fewer looks)."""
    horizon = dist.quantile(HORIZON_QUANTILE)
    low, high = math.log(1e-6), math.log(1e6)
    for _ in range(60):
        mid = (low + high) / 2
        spent = expect(dist, poll_times(dist, math.exp(mid), bounds, horizon)).polls
        if spent > budget_polls:
            low = mid
        else:
            high = mid
    return math.exp(high)


@lru_cache(maxsize=256)
def schedule_for(
    median_s: float, sigma: float, bounds: Bounds, factor: float
) -> tuple[float, Expectation, Expectation]:
    """λ for this distribution, with the budget the geometric schedule (first look, `factor`,
    cap) spends on it; and both schedules' expectations, for operators and the benchmark.
    Cached: the fit changes only as jobs finish, and rounding keeps the keys few."""
    dist = LogNormal(median_s, sigma)
    horizon = dist.quantile(HORIZON_QUANTILE)
    old = expect(dist, geometric_times(bounds, factor, horizon))
    for share in (BUDGET_SHARE, 1.0):  # the whole budget where the margin would cost lag
        lam = calibrate(dist, old.polls * share, bounds)
        new = expect(dist, poll_times(dist, lam, bounds, horizon))
        if new.lag_s <= old.lag_s:
            break
    return lam, new, old


def rounded(dist: LogNormal) -> LogNormal:
    """The distribution on a coarse lattice (2 % steps of the median, 0.02 of sigma), so that a
    fit moved by one more completion keeps its cached schedule (calibrating takes ~0.1 s)."""
    median = math.exp(round(math.log(max(dist.median_s, 1.0)) / 0.02) * 0.02)
    return LogNormal(round(median, 3), max(SIGMA_FLOOR, round(dist.sigma / 0.02) * 0.02))


@dataclass(frozen=True)
class Plan:
    """One poll batch's schedule: the fitted distribution, its λ and the settings' bounds."""

    dist: LogNormal
    lam: float
    bounds: Bounds

    def next_delay_s(self, elapsed_s: float) -> float:
        return interval_s(elapsed_s, self.dist, self.lam, self.bounds)


def plan(durations_s: Sequence[float], bounds: Bounds, factor: float) -> Plan | None:
    """The schedule for jobs like those that took `durations_s`; None (the geometric series)
    until enough have finished: a prior that does not match the upstream in use (a simulator
    answering in seconds) would otherwise wait a whole cap past every early finish."""
    if len(durations_s) < MIN_SAMPLES:
        return None
    dist = rounded(fit(durations_s))
    lam, _, _ = schedule_for(dist.median_s, dist.sigma, bounds, factor)
    return Plan(dist, lam, bounds)
