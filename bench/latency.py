"""Sections 4 and 5 on one stack with the geometric poll schedule (first poll after 5 s, x1.5
per poll, capped at 30 s; beat tick `VEO_POLL_TICK_S`, 0.5 s).

4. Detection lag: jobs whose upstream latency is spread uniformly over (1 s, lag_max_latency_s]
   (a `[sim latency=S]` directive each). Lag = our `completed_at` - the simulator's `done_at`.
   The poll interval in force when the job finished is the nominal backoff step of its last poll
   (`poll_count` not-done polls before it; the first delay when 0). The target compares the
   median of lag / interval with 0.5: polls at fixed intervals find a uniformly-timed finish
   half an interval late on average, so anything above 0.5 is our own overhead. The simulator's
   `first_seen_done_at` splits the lag into "until the poll saw it" and "after it was seen"
   (download, store, commit).
5. Webhook latency: a burst of jobs that all finish before their first poll, so one poll batch
   completes them together; latency = receiver arrival - `completed_at`.
"""

import random
import time
from typing import Any

import httpx

from bench.common import (
    QUOTAS_LIFTED,
    Config,
    stack_settings,
    submit_jobs,
    ts,
    wait_received,
    wait_terminal,
)
from bench.stack import RunContext, Stack
from bench.stats import dist


def overrides(cfg: Config) -> dict[str, str]:
    return {
        "VEO_SIMULATOR_RENDER": "fast",
        # The poller's accuracy against the interval it keeps: the fixed geometric series and
        # small videos (the predictive schedule and Veo-sized videos are section 8's subject).
        "VEO_POLL_SCHEDULE": "geometric",
        "VEO_SIMULATOR_VIDEO_SIZE": "small",
        **QUOTAS_LIFTED,
        **{k: str(v) for k, v in cfg.extra.get("latency_env", {}).items()},
    }


def nominal_interval_s(poll_count: int, first_s: float, factor: float, cap_s: float) -> float:
    if poll_count <= 0:
        return first_s
    return min(cap_s, first_s * factor ** (poll_count - 1))


def detection_lag(stack: Stack, key: str, cfg: Config, log: Any) -> dict[str, Any]:
    settings = stack_settings(stack)
    rng = random.Random(7)
    latencies = [rng.uniform(1.0, cfg.lag_max_latency_s) for _ in range(cfg.lag_jobs)]
    prompts = [f"lag job {i} [sim latency={lat:.3f}]" for i, lat in enumerate(latencies)]
    sent = submit_jobs(stack, key, prompts)
    ids = [uuid for uuid, _ in sent]
    # The last job may finish just after a poll and wait one more capped interval.
    rows = wait_terminal(
        stack, ids, timeout_s=cfg.lag_max_latency_s + 2 * settings.poll_max_interval_s + 30
    )
    lags, intervals, ratios, after_seen, until_seen = [], [], [], [], []
    failed = 0
    with httpx.Client(
        base_url=stack.simulator_url, headers=stack.simulator_headers, timeout=10
    ) as sim:
        for row in rows.values():
            if row.status != "completed":
                failed += 1
                continue
            op = sim.get(f"/_sim/operations/{row.upstream_operation}").json()
            lag = ts(row.completed_at) - op["done_at"]
            interval = nominal_interval_s(
                row.poll_count,
                settings.poll_first_delay_s,
                settings.poll_backoff_factor,
                settings.poll_max_interval_s,
            )
            lags.append(lag)
            intervals.append(interval)
            ratios.append(lag / interval)
            until_seen.append(op["first_seen_done_at"] - op["done_at"])
            after_seen.append(ts(row.completed_at) - op["first_seen_done_at"])
    result: dict[str, Any] = {
        "jobs": len(ids),
        "failed": failed,
        "lag_s": dist(lags),
        "interval_s": dist(intervals),
        "ratio": dist(ratios),
        "until_seen_s": dist(until_seen),
        "after_seen_s": dist(after_seen),
        "schedule": {
            "first_s": settings.poll_first_delay_s,
            "factor": settings.poll_backoff_factor,
            "cap_s": settings.poll_max_interval_s,
            "tick_s": settings.poll_tick_s,
        },
    }
    log(
        f"  detection lag p50 {result['lag_s']['p50']:.2f}s; lag/interval p50 "
        f"{result['ratio']['p50']:.2f}; after seen p50 {result['after_seen_s']['p50']:.3f}s"
    )
    return result


def webhook_burst(
    stack: Stack, key: str, receiver_url: str, cfg: Config, log: Any
) -> dict[str, Any]:
    settings = stack_settings(stack)
    # Done well before the first poll (poll_first_delay_s), so the whole burst completes together.
    latency = max(0.1, settings.poll_first_delay_s / 4)
    prompts = [f"burst job {i} [sim latency={latency:.2f}]" for i in range(cfg.burst_jobs)]
    sent = submit_jobs(stack, key, prompts, webhook_url=f"{receiver_url}/burst")
    ids = [uuid for uuid, _ in sent]
    arrived = wait_received(receiver_url, set(ids), "video.completed", timeout_s=120)
    rows = wait_terminal(stack, ids, timeout_s=30)
    latencies = [arrived[i] - ts(rows[i].completed_at) for i in ids if rows[i].completed_at]
    completed_at = sorted(ts(rows[i].completed_at) for i in ids if rows[i].completed_at)
    result: dict[str, Any] = {
        "latency_s": dist(latencies),
        "completion_spread_s": completed_at[-1] - completed_at[0] if completed_at else None,
        "jobs": len(ids),
    }
    log(
        f"  webhook burst of {len(ids)}: p50 {result['latency_s']['p50']:.3f}s p99 "
        f"{result['latency_s']['p99']:.3f}s "
        f"(completions spread over {result['completion_spread_s']:.2f}s)"
    )
    return result


def run(ctx: RunContext, backend: str, cfg: Config, log: Any) -> dict[str, Any]:
    with Stack(ctx, backend, "latency", overrides(cfg)) as stack:
        started = stack.start_pipeline()
        receiver_url, key = started.receiver_url, started.api_key
        t0 = time.monotonic()
        lag = detection_lag(stack, key, cfg, log)
        log(f"  (detection lag took {time.monotonic() - t0:.0f}s)")
        burst = webhook_burst(stack, key, receiver_url, cfg, log)
        return {"lag": lag, "webhook": burst}
