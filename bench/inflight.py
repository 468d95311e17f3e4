"""Section 3: N jobs in `processing` at once, polled by one 2-core worker host.

N operations are created at the simulator over its real protocol (latency one day, so none
finishes), and N job rows are inserted already `processing` (as the submit task leaves them)
with `poll_count` past the backoff's cap, so each is polled every `VEO_POLL_MAX_INTERVAL_S`
(30 s), and `next_poll_at` spread evenly over the first interval. Then one generation worker
(prefork -c 2) and beat run for `inflight_observe_s` while we sample:

- poll lateness: the poller's own samples (Redis list `<prefix>stats:poll-lateness`), i.e.
  claim time - next_poll_at, for every poll made during the window;
- worker RSS: the whole worker process tree (main + pool children), sampled each second, peak;
- Redis memory: `INFO memory` used_memory growth, and MEMORY USAGE of this stack's own keys;
- DB rows written per second: PostgreSQL's pg_stat_database (tuples inserted+updated+deleted)
  and, on both databases, poll reschedules (sum of poll_count) per second.
"""

import os
import secrets
import sys
import time
from typing import Any

import httpx
from sqlalchemy import func, select, text

from bench.common import Config, create_operations, insert_processing_jobs, jobs_table
from bench.procs import Spy
from bench.stack import REPO, RunContext, Stack
from bench.stats import dist
from devtools.processes import Proc, free_port, http_ok

UPSTREAM_LATENCY_S = 86_400
POLL_COUNT_AT_CAP = 10  # 5 s x 1.5^9 is far past the 30 s cap


def overrides(cfg: Config) -> dict[str, str]:
    # The poll quota must cover N / interval polls per second: the default (200/s) caps a host at
    # 200 x 30 = 6,000 jobs in flight, so the benchmark lifts it and reports what was needed.
    return {
        "VEO_SIMULATOR_DEFAULT_LATENCY_S": str(UPSTREAM_LATENCY_S),
        # The operations are made over the Gemini protocol (bench/common.py create_operations).
        "VEO_SIMULATOR_PROTOCOL": "gemini",
        "VEO_SIMULATOR_LATENCY_JITTER_S": "0",
        "VEO_UPSTREAM_POLLS_PER_SECOND": str(max(1000, cfg.inflight // 10)),
        "VEO_UPSTREAM_MAX_IN_FLIGHT": str(cfg.inflight * 2),
        **{k: str(v) for k, v in cfg.extra.get("inflight_env", {}).items()},
    }


def _db_writes(stack: Stack) -> tuple[int | None, int]:
    """(pg tuples written so far in this database or None on SQLite, sum of poll_count)."""
    with stack.engine().connect() as conn:
        polls = int(
            conn.execute(select(func.coalesce(func.sum(jobs_table().c.poll_count), 0))).scalar_one()
        )
        if stack.backend != "postgres":
            return None, polls
        row = conn.execute(
            text(
                "SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
                "WHERE datname = current_database()"
            )
        ).scalar_one()
        return int(row), polls


def _own_keys_bytes(stack: Stack) -> int:
    client = stack.redis()
    total = 0
    for key in client.scan_iter(match=f"{stack.prefix}*", count=1000):
        total += int(client.memory_usage(key) or 0)
    return total


def shared_simulator(ctx: RunContext, n: int, log: Any) -> tuple[int, str, list[str]]:
    """One simulator holding N never-finishing operations, made once for both databases:
    its port, its control token and the operations."""
    if "inflight_sim" in ctx.shared:
        port, token, operations = ctx.shared["inflight_sim"]
        return int(port), str(token), list(operations)
    port, token = free_port(), secrets.token_urlsafe(16)
    data_dir = ctx.work_dir / "inflight-simulator"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", "simulator", "--port", str(port),
        "--latency", str(UPSTREAM_LATENCY_S), "--jitter", "0", "--data-dir", str(data_dir),
        "--retired-models", "",  # the Gemini preview id the operations are made with
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEO_")}
    env["VEO_SIMULATOR_CONTROL_TOKEN"] = token
    proc = Proc("inflight-simulator", argv, env, ctx.log_dir, REPO).start()
    ctx.cleanups.append(proc.stop)
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(f"{url}/_sim/health"), timeout_s=30)
    t0 = time.monotonic()
    operations = create_operations(url, n, "bench in-flight")
    log(f"  {n} simulator operations created in {time.monotonic() - t0:.1f}s (shared by backends)")
    ctx.shared["inflight_sim"] = (port, token, operations)
    return port, token, operations


def run(ctx: RunContext, backend: str, cfg: Config, log: Any) -> dict[str, Any]:
    n = cfg.inflight
    port, token, operations = shared_simulator(ctx, n, log)
    env = {
        **overrides(cfg),
        "VEO_SIMULATOR_PORT": str(port),
        "VEO_SIMULATOR_CONTROL_TOKEN": token,
    }
    with Stack(ctx, backend, "inflight", env) as stack:
        account_id, _ = stack.create_account(credits=0, rate_limit=60)
        worker = stack.start_worker()
        beat = stack.start_beat()
        settings_interval = float(stack.env.get("VEO_POLL_MAX_INTERVAL_S", "30"))
        lateness_key = stack.rkey("stats", "poll-lateness")
        client = stack.redis()
        used_before = int(client.info("memory")["used_memory"])
        t0 = time.monotonic()
        insert_processing_jobs(
            stack,
            account_id,
            operations,
            first_due_s=1.0,
            spread_s=settings_interval,
            poll_count=POLL_COUNT_AT_CAP,
        )
        log(
            f"  {n} job rows inserted in {time.monotonic() - t0:.1f}s; "
            f"observing {cfg.inflight_observe_s:.0f}s"
        )
        client.delete(lateness_key)
        sim_before = httpx.get(
            f"{stack.simulator_url}/_sim/stats?prompts=0", headers=stack.simulator_headers
        ).json()["calls"]
        writes_before, polls_before = _db_writes(stack)
        started = time.monotonic()
        rss_peak = beat_peak = used_peak = 0
        cpu_before = worker.tree_cpu_s()
        with Spy("inflight", [worker]):
            while time.monotonic() - started < cfg.inflight_observe_s:
                rss_peak = max(rss_peak, worker.tree_rss_bytes())
                beat_peak = max(beat_peak, beat.tree_rss_bytes())
                used_peak = max(used_peak, int(client.info("memory")["used_memory"]))
                time.sleep(1.0)
        worker_cpu_s = worker.tree_cpu_s() - cpu_before
        observed = time.monotonic() - started
        writes_after, polls_after = _db_writes(stack)
        sim_after = httpx.get(
            f"{stack.simulator_url}/_sim/stats?prompts=0", headers=stack.simulator_headers
        ).json()["calls"]
        samples = [float(v) for v in client.lrange(lateness_key, 0, -1)]
        own_bytes = _own_keys_bytes(stack)
        polls = sim_after.get("gemini.poll", 0) - sim_before.get("gemini.poll", 0)
        result = {
            "n": n,
            "observe_s": round(observed, 1),
            "poll_interval_s": settings_interval,
            "needed_polls_per_s": n / settings_interval,
            "polls_per_s": polls / observed,
            "lateness_s": dist(samples),
            "worker_rss_peak_bytes": rss_peak,
            "beat_rss_peak_bytes": beat_peak,
            "redis_used_memory_delta_bytes": max(0, used_peak - used_before),
            "redis_own_keys_bytes": own_bytes,
            "reschedules_per_s": (polls_after - polls_before) / observed,
            "db_rows_per_s": (
                (writes_after - writes_before) / observed
                if writes_after is not None and writes_before is not None
                else (polls_after - polls_before) * 2 / observed  # claim + reschedule per poll
            ),
            "db_rows_source": "pg_stat_database" if backend == "postgres" else "2 x reschedules",
            "poll_quota_per_s": int(stack.env["VEO_UPSTREAM_POLLS_PER_SECOND"]),
            "worker_cpu_ms_per_poll": 1000 * worker_cpu_s / max(polls, 1),
            "worker_cpu_cores": worker_cpu_s / observed,
        }
        lat = result["lateness_s"]
        log(
            f"  lateness p50 {lat['p50']:.3f}s p99 {lat['p99']:.3f}s ({lat['n']} polls, "
            f"{result['polls_per_s']:.0f}/s of {result['needed_polls_per_s']:.0f}/s needed); "
            f"worker RSS {rss_peak / 2**20:.0f} MiB; "
            f"worker CPU {result['worker_cpu_ms_per_poll']:.2f} ms/poll "
            f"({result['worker_cpu_cores']:.2f} cores)"
        )
        return result
