"""Section 2: completed jobs/s through the whole pipeline, against raw Celery no-op throughput.

Baseline: `bench.noop_app` (the product's celery_config, same worker flags) drains N no-op tasks
sent from this process while one prefork -c 2 worker runs; rate = N / (last done - first sent).

Pipeline: gateway, a generation worker (-Q veo.submit,veo.poll,veo.maintenance, prefork -c 2),
a webhook worker (-Q veo.webhooks, threads -c 8), beat, the simulator with latency 0 and
render=fast, and a loopback receiver. N jobs are POSTed (16 at a time) with a webhookUrl; the
rate is N / (last `video.completed` webhook received - first submit sent). Quotas are lifted
(they are section 6's subject) and the first poll is due `pipeline_first_poll_s` after submit.
"""

import contextlib
import time
from typing import Any

import psutil
from celery import Celery

from bench.common import (
    QUOTAS_LIFTED,
    Config,
    stack_settings,
    submit_jobs,
    wait_received,
    wait_terminal,
)
from bench.noop_app import QUEUE, TASK, done_keys
from bench.procs import Spy
from bench.stack import RunContext, Stack
from bench.stats import percentile, summary
from shared.celery_app import celery_config


def overrides(cfg: Config) -> dict[str, str]:
    return {
        "VEO_SIMULATOR_DEFAULT_LATENCY_S": "0",
        "VEO_SIMULATOR_LATENCY_JITTER_S": "0",
        "VEO_SIMULATOR_RENDER": "fast",
        # Our machinery's throughput, not the simulator's file serving: Veo-sized videos (4.8 MB
        # each) are the time-to-result section's; here they would measure the simulator.
        "VEO_SIMULATOR_VIDEO_SIZE": "small",
        **QUOTAS_LIFTED,
        "VEO_POLL_FIRST_DELAY_S": str(cfg.pipeline_first_poll_s),
    }


def noop_rate(stack: Stack, count: int) -> float:
    settings = stack_settings(stack)
    app = Celery("bench-producer")
    conf = celery_config(settings)
    conf.pop("beat_schedule")
    app.conf.update(conf)
    count_key, last_key = done_keys(stack.prefix)
    client = stack.redis()
    client.delete(count_key, last_key)
    with app.producer_or_acquire() as producer:
        first = time.time()
        for _ in range(count):
            app.send_task(TASK, queue=QUEUE, producer=producer, retry=False)
    deadline = time.monotonic() + 120
    while int(client.get(count_key) or 0) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no-op tasks: only {client.get(count_key)!r} of {count} ran")
        time.sleep(0.05)
    last = float(client.get(last_key) or 0)
    return count / (last - first)


SERVICES = ("postgres", "redis-server")  # shared with anything else on the machine


def this_process_cpu_s() -> float:
    """CPU seconds of this process: the submitting client and the receiver's poller."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


def services_cpu_s() -> dict[str, float]:
    """CPU seconds used so far by every PostgreSQL and Redis server process on the machine."""
    totals = dict.fromkeys(SERVICES, 0.0)
    for proc in psutil.process_iter(["name", "cpu_times"]):
        name, times = proc.info["name"], proc.info["cpu_times"]
        if name in totals and times is not None:
            totals[name] += times.user + times.system
    return totals


def run(ctx: RunContext, backend: str, cfg: Config, log: Any) -> dict[str, Any]:
    with Stack(ctx, backend, "pipeline", overrides(cfg)) as stack:
        noop_worker = stack.start_worker(queues=QUEUE, app="bench.noop_app")
        rates = []
        for rep in range(cfg.noop_reps):
            rates.append(noop_rate(stack, cfg.noop_tasks))
            log(f"  no-op rep {rep + 1}/{cfg.noop_reps}: {rates[-1]:.0f} tasks/s")
        noop_worker.stop()
        stack.procs.remove(noop_worker)

        started = stack.start_pipeline()
        gateway, worker, webhook_worker = started.gateway, started.worker, started.webhook_worker
        receiver_url, key = started.receiver_url, started.api_key
        prompts = [f"pipeline job {i}" for i in range(cfg.pipeline_jobs)]
        hook = f"{receiver_url}/hook"
        roles = {"gateway": gateway, "worker": worker, "webhook_worker": webhook_worker}
        others = {
            "simulator": started.simulator,
            "receiver": started.receiver,
            "beat": started.beat,
        }
        cpu_before = {role: proc.tree_cpu_s() for role, proc in {**roles, **others}.items()}
        services_before = services_cpu_s()
        this_before = this_process_cpu_s()
        with Spy("pipeline", [gateway, worker, webhook_worker]):
            t0 = time.time()
            sent = submit_jobs(stack, key, prompts, webhook_url=hook)
            submitted_s = time.time() - t0
            ids = [uuid for uuid, _ in sent]
            arrived = wait_received(receiver_url, set(ids), "video.completed", timeout_s=300)
        cpu_ms = {
            role: 1000 * (proc.tree_cpu_s() - cpu_before[role]) / len(ids)
            for role, proc in roles.items()
        }
        # The rest of the machine's work per job: the test doubles, and the servers (whose
        # figures include anything else they served meanwhile).
        other_ms = {
            role: 1000 * (proc.tree_cpu_s() - cpu_before[role]) / len(ids)
            for role, proc in others.items()
        }
        other_ms["load generator"] = 1000 * (this_process_cpu_s() - this_before) / len(ids)
        with contextlib.suppress(psutil.Error):
            for name, cpu_s in services_cpu_s().items():
                other_ms[name] = 1000 * (cpu_s - services_before[name]) / len(ids)
        first_sent = min(at for _, at in sent)
        times = sorted(arrived.values())
        elapsed = times[-1] - first_sent
        lo, hi = percentile(times, 10), percentile(times, 90)
        rows = wait_terminal(stack, ids, timeout_s=30)
        failed = sum(r.status == "failed" for r in rows.values())
        noop = summary(rates)
        jobs_per_s = len(ids) / elapsed
        result = {
            "noop_tasks_per_s": noop,
            "jobs": len(ids),
            "failed": failed,
            "submit_phase_s": round(submitted_s, 2),
            "submit_rps": len(ids) / submitted_s,
            "elapsed_s": round(elapsed, 2),
            "jobs_per_s": jobs_per_s,
            "steady_jobs_per_s": 0.8 * len(ids) / (hi - lo) if hi > lo else float("nan"),
            "ratio": jobs_per_s / noop["median"],
            "first_poll_s": cfg.pipeline_first_poll_s,
            "cpu_ms_per_job": cpu_ms,
            "other_cpu_ms_per_job": other_ms,
        }
        log(
            f"  pipeline: {len(ids)} jobs in {elapsed:.1f}s = {jobs_per_s:.1f} jobs/s "
            f"(submits took {submitted_s:.1f}s); {result['ratio']:.3f}x no-op; CPU ms/job "
            + ", ".join(f"{k} {v:.1f}" for k, v in cpu_ms.items())
            + "; elsewhere "
            + ", ".join(f"{k} {v:.1f}" for k, v in other_ms.items())
        )
        return result
