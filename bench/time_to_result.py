"""Section 7, time to result: how long after Veo has finished the user has the video and the
webhook, per leg, for three configurations measured at the same time on three stacks.

- `push`: the simulator pushes each operation's end the way a Pub/Sub push subscription on the
  Vertex `pubsubTopic` would (signed OIDC token, verified by the gateway); polling stays on
  (predictive, as by default) as the fallback.
- `predictive`: no push; the predictive poll schedule (the product's default), its duration
  history seeded in Redis with WINDOW draws from the same distribution before the first submit,
  as a stack that has been running for a while has it.
- `geometric`: no push; the old fixed series (first poll 5 s, x1.5, capped at 30 s): the
  baseline.

Every stack gets the same jobs: N latencies drawn once from the simulator's documented `veo`
distribution (log-normal, median 75 s, sigma 0.47: simulator/latency.py) and given to each job
as a `[sim latency=S]` directive, submitted at the same moments (spread uniformly over an
arrival window, as steady traffic rather than one burst), Veo-sized MP4s (`video_size=real`,
4.8 MB for 8 s 720p) written to Cloud Storage (`storageUri`) and downloaded from there. Legs
per job, from the simulator's operation record, the job row and the webhook receiver:

    detection = first poll that saw it done - upstream done_at
    download  = last byte of the video sent - that poll
    commit    = completed_at - last byte sent
    webhook   = video.completed arrival at the receiver - completed_at
    total     = arrival - done_at

Polls per job are counted at the simulator. The global poll quota keeps its default.
"""

import random
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.common import Config, submit_jobs, ts, wait_received, wait_terminal
from bench.stack import RunContext, Stack
from bench.stats import dist
from devtools.processes import free_port
from shared.constants import KEY_RECENT_DURATIONS
from shared.estimates import WINDOW
from shared.settings import Settings
from simulator.latency import VEO_MEDIAN_S, VEO_SIGMA, draw_veo
from simulator.push import PUSH_SERVICE_ACCOUNT
from worker.tasks.decisions import poll_bounds
from worker.tasks.poll_schedule import schedule_for

CONFIGS = ("push", "predictive", "geometric")
MODEL = "veo-3.1-generate-001"
TOPIC = "projects/simulator-project/topics/veo-operations"
COMMON = {
    "VEO_SIMULATOR_RENDER": "fast",
    "VEO_SIMULATOR_VIDEO_SIZE": "real",
    "VEO_VERTEX_OUTPUT_GCS_URI": "gs://bench-videos/out/",
    "VEO_UPSTREAM_SUBMITS_PER_MINUTE": "100000000",  # submits are not what is measured
    "VEO_UPSTREAM_MAX_IN_FLIGHT": "1000000",
}


def overrides(config: str) -> dict[str, str]:
    env = dict(COMMON)
    if config == "geometric":
        env["VEO_POLL_SCHEDULE"] = "geometric"
    else:
        env["VEO_POLL_SCHEDULE"] = "predictive"
    if config == "push":
        gateway_port, simulator_port = free_port(), free_port()
        push_url = f"http://127.0.0.1:{gateway_port}/api/upstream/notifications"
        env |= {
            "VEO_GATEWAY_PORT": str(gateway_port),
            "VEO_SIMULATOR_PORT": str(simulator_port),
            "VEO_PUBSUB_TOPIC": TOPIC,
            "VEO_PUSH_NOTIFICATIONS": "true",
            "VEO_PUSH_CERTS_URL": f"http://127.0.0.1:{simulator_port}/_sim/oauth2/v1/certs",
            "VEO_PUSH_SERVICE_ACCOUNT": PUSH_SERVICE_ACCOUNT,
            "VEO_PUSH_AUDIENCE": push_url,
            "VEO_SIMULATOR_PUSH_URL": push_url,
        }
    return env


def latencies(n: int, scale: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [scale * draw_veo(rng, MODEL, "720p", 8) for _ in range(n)]


def seed_history(stack: Stack, scale: float) -> None:
    """WINDOW completion times from the distribution, as if the stack had been running for an
    hour (settled: older than VEO_POLL_HISTORY_SETTLE_S)."""
    started = time.time() - 3600
    values = [f"{v:.3f}@{started:.0f}" for v in latencies(WINDOW, scale, seed=99)]
    stack.redis().lpush(stack.rkey(KEY_RECENT_DURATIONS), *values)


def submit_spread(
    stack: Stack, key: str, prompts: list[str], window_s: float, webhook_url: str
) -> list[str]:
    """The prompts in 20 waves spread evenly over `window_s` (the same moments on every stack)."""
    waves = 20
    ids: list[str] = []
    start = time.monotonic()
    for wave in range(waves):
        due = start + window_s * wave / waves
        time.sleep(max(0.0, due - time.monotonic()))
        chunk = prompts[wave::waves]
        ids += [uuid for uuid, _ in submit_jobs(stack, key, chunk, webhook_url=webhook_url)]
    return ids


def measure(stack: Stack, ids: list[str], receiver_url: str, timeout_s: float) -> dict[str, Any]:
    arrived = wait_received(receiver_url, set(ids), "video.completed", timeout_s=timeout_s)
    rows = wait_terminal(stack, ids, timeout_s=60)
    legs: dict[str, list[float]] = {
        k: [] for k in ("detection", "download", "commit", "webhook", "total", "polls")
    }
    pushed = 0
    with httpx.Client(
        base_url=stack.simulator_url, headers=stack.simulator_headers, timeout=10
    ) as sim:
        for uuid in ids:
            row = rows[uuid]
            op = sim.get(f"/_sim/operations/{row.upstream_operation}").json()
            done, seen, sent = op["done_at"], op["first_seen_done_at"], op["download_done_at"]
            completed = ts(row.completed_at)
            legs["detection"].append(seen - done)
            legs["download"].append(sent - seen)
            legs["commit"].append(completed - sent)
            legs["webhook"].append(arrived[uuid] - completed)
            legs["total"].append(arrived[uuid] - done)
            legs["polls"].append(float(op["polls"]))
            pushed += op["pushed_at"] is not None
    result: dict[str, Any] = {
        name: {**dist(values), "mean": statistics.fmean(values)} for name, values in legs.items()
    }
    result["jobs"] = len(ids)
    result["pushed"] = pushed
    return result


def run_config(
    ctx: RunContext, backend: str, config: str, plan: dict[str, Any], log: Any
) -> dict[str, Any]:
    with Stack(ctx, backend, f"ttr-{config}", overrides(config)) as stack:
        started = stack.start_pipeline()
        receiver_url, key = started.receiver_url, started.api_key
        if config != "geometric":
            seed_history(stack, plan["scale"])
        plan["ready"].wait()  # all three stacks submit at the same moments
        ids = submit_spread(
            stack, key, plan["prompts"], plan["window_s"], f"{receiver_url}/ttr-{config}"
        )
        timeout = plan["window_s"] + max(plan["latencies"]) + 120
        result = measure(stack, ids, receiver_url, timeout)
        log(
            f"  {config}: total p50 {result['total']['p50']:.2f}s"
            f" max {result['total']['max']:.2f}s;"
            f" detection p50 {result['detection']['p50']:.2f}s;"
            f" polls/job {result['polls']['mean']:.2f}"
        )
        return result


def limits(scale: float) -> dict[str, Any]:
    """What polling can reach on the documented distribution at the baseline's poll budget:
    the expected polls and mean detection lag of the geometric series and of the calibrated
    (continuous-optimum) placement with the same expected number of polls."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]  # the product's defaults
    bounds = poll_bounds(settings)
    median = VEO_MEDIAN_S * scale
    _, new, old = schedule_for(median, VEO_SIGMA, bounds, settings.poll_backoff_factor)
    return {
        "geometric": {"polls": old.polls, "mean_lag_s": old.lag_s},
        "optimal": {"polls": new.polls, "mean_lag_s": new.lag_s},
    }


def run(ctx: RunContext, backend: str, cfg: Config, log: Any) -> dict[str, Any]:
    if ctx.shared.get("ttr_done"):
        return {"skipped": "measured once per run, on the first backend"}
    ctx.shared["ttr_done"] = True
    scale = 0.25 if cfg.quick else 1.0
    n = cfg.ttr_jobs
    lats = latencies(n, scale, seed=19)
    plan: dict[str, Any] = {
        "scale": scale,
        "latencies": lats,
        "prompts": [f"ttr job {i} [sim latency={lat:.3f}]" for i, lat in enumerate(lats)],
        "window_s": cfg.ttr_window_s,
        "ready": threading.Barrier(len(CONFIGS), timeout=300),
    }
    results: dict[str, Any] = {}

    def worker(config: str) -> Callable[[], None]:
        def go() -> None:
            try:
                results[config] = run_config(ctx, backend, config, plan, log)
            except Exception as exc:  # reported in the table; the others go on
                plan["ready"].abort()
                results[config] = {"error": repr(exc)}

        return go

    threads = [threading.Thread(target=worker(c), name=f"ttr-{c}") for c in CONFIGS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [f"{c}: {r['error']}" for c, r in results.items() if "error" in r]
    if errors:
        raise RuntimeError("; ".join(errors))
    return {
        **results,
        "latency_s": dist(lats),
        "limits": limits(scale),
        "jobs": n,
        "window_s": cfg.ttr_window_s,
        "scale": scale,
    }
