"""How long a simulated generation takes: a fixed latency with jitter (tests), or Veo's.

`veo` draws each operation's latency from a log-normal fitted to what Veo 3.1 takes in
practice: median ~75 s for an 8 s 720p clip of the standard model, 10th-90th percentile
~41-137 s (sigma 0.47), the fast models about 0.6 times as long, 1080p x1.25, 4k x2, and
shorter clips somewhat quicker. The numbers are documented in docs/simulator.md; the poll
schedule's prior (worker/tasks/poll_schedule.py) uses the same median and sigma.
"""

import math
import random

from simulator.directives import Directives

VEO_MEDIAN_S = 75.0  # veo-3.1 standard, 720p, 8 s
VEO_SIGMA = 0.47
FAST_FACTOR = 0.6  # "-fast-" and "-lite-" model ids
RESOLUTION_FACTOR = {"720p": 1.0, "1080p": 1.25, "4k": 2.0}
DURATION_FACTOR = {4: 0.7, 6: 0.85, 8: 1.0}
MIN_LATENCY_S = 5.0  # nothing comes back sooner than this


def veo_median_s(model: str, resolution: str, duration_s: int) -> float:
    """The median latency of one kind of job under the `veo` model."""
    quick = "-fast" in model or "-lite" in model
    return (
        VEO_MEDIAN_S
        * (FAST_FACTOR if quick else 1.0)
        * RESOLUTION_FACTOR.get(resolution, 1.0)
        * DURATION_FACTOR.get(duration_s, 1.0)
    )


def draw_veo(rng: random.Random, model: str, resolution: str, duration_s: int) -> float:
    """One latency from the `veo` distribution of this kind of job."""
    median = veo_median_s(model, resolution, duration_s)
    return max(MIN_LATENCY_S, median * math.exp(rng.gauss(0.0, VEO_SIGMA)))


def pick_latency(
    directives: Directives,
    *,
    model_name: str,
    base_s: float,
    jitter_s: float,
    rng: random.Random,
    model: str = "",
    resolution: str = "720p",
    duration_s: int = 8,
) -> float:
    """A `[sim latency=S]` directive first; then the configured model (`model_name`)."""
    if directives.latency_s is not None:
        return directives.latency_s
    if model_name == "veo":
        return draw_veo(rng, model, resolution, duration_s)
    if jitter_s <= 0:
        return base_s
    return max(0.0, base_s + rng.uniform(-jitter_s, jitter_s))
