"""Section 6: the upstream never sees more than `VEO_UPSTREAM_SUBMITS_PER_MINUTE`, whatever the
number of workers. Counted at the simulator (each accepted operation's `created_at`).

`rate_workers` generation workers (prefork -c 2 each) share one global Redis token bucket
(rate R/60 per second, burst R/6: at most 10 s of quota at once). `rate_jobs` jobs are posted at
once, far more than the burst, and the simulator's accepted submissions are read back after
`rate_observe_s`. Checks: every accepted count stays within the bucket's bound
(burst + rate x t since the first accept, plus 0.5 s of tokens for the jitter between taking a
token and the request arriving), and the sustained rate after the
burst ((accepted - burst) / time since the first accept) is <= R.
"""

import re
import time
from typing import Any

import httpx

from bench.common import Config, submit_jobs
from bench.stack import RunContext, Stack

PROMPT = "rate probe"
PROCESSING = re.compile(r"'(?:.*?\b(\d+) )?processing\b")
SLACK_S = 0.5


def submitted_by(log_text: str) -> int:
    """Jobs a worker moved to processing: its submit tasks' results ('processing', or counts
    such as '3 processing, 1 deferred' for a batch)."""
    total = 0
    for line in log_text.splitlines():
        if "veo.submit_job[" in line and (found := PROCESSING.search(line)):
            total += int(found.group(1) or 1)
    return total


def run(ctx: RunContext, backend: str, cfg: Config, log: Any) -> dict[str, Any]:
    per_minute = cfg.rate_per_minute
    env = {
        "VEO_UPSTREAM_SUBMITS_PER_MINUTE": str(per_minute),
        "VEO_SIMULATOR_DEFAULT_LATENCY_S": "2",
        "VEO_SIMULATOR_RENDER": "fast",
    }
    with Stack(ctx, backend, "rate", env) as stack:
        stack.start_simulator()
        stack.start_gateway()
        workers = [stack.start_worker() for _ in range(cfg.rate_workers)]
        stack.start_beat()
        _, key = stack.create_account(credits=10**9, rate_limit=10**9)
        submit_jobs(stack, key, [PROMPT] * cfg.rate_jobs)
        started = time.time()
        time.sleep(cfg.rate_observe_s)
        with httpx.Client(
            base_url=stack.simulator_url, headers=stack.simulator_headers, timeout=30
        ) as sim:
            names = sim.get("/_sim/submissions", params={"prompt": PROMPT}).json()["operations"]
            created = sorted(
                sim.get(f"/_sim/operations/{name}").json()["created_at"] for name in names
            )
        end = max(time.time(), created[-1] if created else started)
        rate_s = per_minute / 60
        burst = max(1.0, per_minute / 6)
        t0 = created[0] if created else started
        excess = [i + 1 - (burst + rate_s * (at - t0)) for i, at in enumerate(created)]
        # A token is taken a moment before the request reaches the upstream; on a loaded machine
        # that moment varies, so accepts may bunch by a few tokens. Allow 0.5 s worth of them.
        slack = max(1.0, rate_s * SLACK_S)
        violations = sum(1 for e in excess if e > slack)
        # Sustained: what the upstream saw beyond the bucket's one-off burst allowance.
        span = end - t0
        sustained_s = max(0.0, len(created) - burst) / span if span > 0 else float("nan")
        by_worker = [submitted_by(w.log_text()) for w in workers]
        result = {
            "configured_per_min": per_minute,
            "burst": burst,
            "workers": cfg.rate_workers,
            "concurrency_per_worker": 2,
            "jobs": cfg.rate_jobs,
            "accepted": len(created),
            "observed_s": round(end - t0, 1),
            "bound_violations": violations,
            "sustained_per_min": sustained_s * 60,
            "average_per_min": len(created) / span * 60 if span > 0 else None,
            "ratio": sustained_s / rate_s,
            "submits_by_worker": by_worker,
            "max_excess_over_bound": max(excess, default=0.0),
            "slack_tokens": slack,
            "accept_times_s": [round(at - t0, 3) for at in created],
        }
        log(
            f"  upstream saw {len(created)} submits in {end - t0:.1f}s; sustained "
            f"{sustained_s * 60:.0f}/min of {per_minute}/min; {violations} over the bound; "
            f"task runs by worker {by_worker}"
        )
        return result
