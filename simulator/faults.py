"""Fault injection: directive-driven faults (predictable) and random chaos faults (seeded).

Order of precedence for one call: the prompt's directive for this phase, then (if the directive
did not fault) a random fault with probability `fault_rate`, drawn from
{429 + Retry-After, 500, 503, dropped connection, slow answer}.

Faults never create an operation. On submit, every fault is decided and served BEFORE the
operation exists: an error or a dropped connection means "not accepted", so a client that
resubmits after one can never cause a duplicate. A slow answer on submit sleeps first and only
then creates the operation, and only if the client is still connected; a client that gave up
during the delay leaves nothing behind. The random draws come from `random.Random(seed)`: the
same sequence of calls gets the same faults.
"""

import random
from dataclasses import dataclass

from starlette.responses import Response

from simulator import google_errors as gerr
from simulator.config import SimConfig
from simulator.directives import Directives
from simulator.stats import Stats
from simulator.transport import DropConnection

RANDOM_KINDS: tuple[str, ...] = ("429", "500", "503", "drop", "slow")


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do to one call: wait `delay_s`, then answer `kind` instead of the real answer."""

    delay_s: float = 0.0
    kind: str | None = None
    retry_after_s: int = 1


NO_FAULT = Plan()


class FaultInjector:
    def __init__(self, config: SimConfig, stats: Stats) -> None:
        self.config = config
        self.stats = stats
        self.rng = random.Random(config.seed)
        self.calls: dict[tuple[str, str], int] = {}  # (phase, prompt) -> calls so far

    def reseed(self) -> None:
        self.rng = random.Random(self.config.seed)

    def reset(self) -> None:
        self.calls.clear()
        self.reseed()

    def plan(self, phase: str, prompt: str, directives: Directives) -> Plan:
        """Decide the fault for one call of `phase`; counts the call for `xN` directives."""
        retry_after = directives.retry_after_s
        if retry_after is None:
            retry_after = self.config.retry_after_s
        delay = 0.0
        if directives.steers(phase):
            key = (phase, prompt)
            index = self.calls.get(key, 0)
            self.calls[key] = index + 1
            delay = directives.slow_for(phase, index)
            if delay:
                self.stats.fault(phase, "slow", "directive")
            step = directives.fault_for(phase, index)
            if step is not None:
                self.stats.fault(phase, step.kind, "directive")
                return Plan(delay, step.kind, retry_after)
        rate = self.config.fault_rate
        if rate > 0 and self.rng.random() < rate:
            kind = self.rng.choice(RANDOM_KINDS)
            self.stats.fault(phase, kind, "random")
            if kind == "slow":
                return Plan(delay + self.config.slow_s, None, retry_after)
            return Plan(delay, kind, retry_after)
        if delay:
            return Plan(delay, None, retry_after)
        return NO_FAULT


def fault_response(plan: Plan, surface: str, model: str, *, gcs: bool = False) -> Response:
    """The answer for a faulted call, in the shape of the surface being called."""
    kind = plan.kind
    if kind == "drop":
        return DropConnection()
    if kind == "429":
        error = gerr.rate_limited(surface, model, plan.retry_after_s)
    elif kind == "quota-day":
        error = gerr.daily_quota(surface, model)
    else:
        error = gerr.GoogleApiError(int(kind or 500))
    if gcs:
        error = gerr.GcsApiError(error.http_status, error.message, headers=error.headers)
    return error.response()
