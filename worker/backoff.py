"""The one backoff policy: exponential, capped, jittered, and never sooner than Retry-After."""

import random


def backoff_s(
    attempt: int,
    *,
    base_s: float,
    factor: float = 2.0,
    cap_s: float,
    retry_after_s: float | None = None,
    jitter: float = 0.2,
    rng: random.Random | None = None,
) -> float:
    """Delay before try number `attempt` (0 = the first retry).

    Jitter spreads a herd of jobs that failed together (±`jitter` of the delay); the upstream's
    Retry-After is a floor, never shortened by jitter, and may exceed the cap.
    """
    rand = rng or random
    delay = min(cap_s, base_s * factor ** max(attempt, 0))
    delay *= 1 + rand.uniform(-jitter, jitter)
    delay = min(delay, cap_s)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return max(delay, 0.0)
