"""A backlog beyond the upstream quota: what waiting costs, how fast it drains, who goes next.

One stack (simulator, one generation worker, beat), 5,000 jobs of one account `pending` (rows
written as the gateway writes them), the default quota of 50 submits a minute. Over a window it
measures the worker's and beat's CPU while the backlog waits, how many jobs the dispatcher
admitted (against the quota), how many submit tasks ran (the worker's log), and how long a
second account's job, accepted in the middle, waited for admission.

    .venv/bin/python -m bench.backlog [--backend sqlite|postgres] [--window-s 60] [--warm-s 15]
"""

import argparse
import json
import re
import secrets
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bench.common import jobs_table
from bench.stack import REDIS_URL, RunContext, Stack

BACKLOG = 5000
SUBMITS_PER_MINUTE = 50


def insert_pending(stack: Stack, account_id: str, count: int, tag: str) -> list[str]:
    """Pending rows, oldest first, as the gateway leaves them (no message: none is needed)."""
    start = datetime.now(UTC)
    rows = [
        {
            "id": str(uuid.uuid4()),
            "account_id": account_id,
            "status": "pending",
            "generation_type": "text_to_video",
            "prompt": f"backlog {tag} #{i}",
            "aspect_ratio": "16:9",
            "credits_charged": 2,
            "submit_attempts": 0,
            "poll_count": 0,
            "created_at": start + timedelta(microseconds=i),
            "updated_at": start + timedelta(microseconds=i),
        }
        for i in range(count)
    ]
    with stack.engine().begin() as conn:
        for first in range(0, len(rows), 1000):
            conn.execute(insert(jobs_table()), rows[first : first + 1000])
    return [str(row["id"]) for row in rows]


def admitted_count(stack: Stack) -> int:
    jobs = jobs_table()
    with stack.engine().connect() as conn:
        return int(conn.execute(select(func.count()).where(jobs.c.status != "pending")).scalar())


def status_of(stack: Stack, job_id: str) -> str:
    jobs = jobs_table()
    with stack.engine().connect() as conn:
        return str(conn.execute(select(jobs.c.status).where(jobs.c.id == job_id)).scalar())


def submit_tasks(log_text: str) -> int:
    return len(re.findall(r"Task veo\.submit_job\[[^\]]+\] received", log_text))


def measure(backend: str, window_s: float, warm_s: float) -> dict[str, Any]:
    ctx = RunContext(Path(tempfile.mkdtemp(prefix="veo-backlog-")), REDIS_URL, 1)
    overrides = {"VEO_UPSTREAM_SUBMITS_PER_MINUTE": str(SUBMITS_PER_MINUTE)}
    with Stack(ctx, backend, "backlog", overrides) as stack:
        stack.start_simulator()
        worker = stack.start_worker()
        busy, _ = stack.create_account(credits=10**6, rate_limit=10**6)
        other, _ = stack.create_account(credits=100, rate_limit=10**6)
        insert_pending(stack, busy, BACKLOG, secrets.token_hex(3))
        beat = stack.start_beat()
        time.sleep(warm_s)  # the quota's first burst (10 s worth) goes out: the steady state
        before_admitted = admitted_count(stack)
        before_tasks = submit_tasks(worker.log_text())
        cpu_before = worker.tree_cpu_s() + beat.tree_cpu_s()
        started = time.monotonic()
        late_at: float | None = None
        late_wait_s: float | None = None
        late = ""
        while (elapsed := time.monotonic() - started) < window_s:
            if late_at is None and elapsed >= window_s / 2:
                [late] = insert_pending(stack, other, 1, "late")
                late_at = time.monotonic()
            if late_at is not None and late_wait_s is None and status_of(stack, late) != "pending":
                late_wait_s = time.monotonic() - late_at
            time.sleep(0.05)  # sampling interval of this measurement
        elapsed = time.monotonic() - started
        cpu_s = worker.tree_cpu_s() + beat.tree_cpu_s() - cpu_before
        admitted = admitted_count(stack) - before_admitted
        tasks = submit_tasks(worker.log_text()) - before_tasks
        pending = BACKLOG + 1 - admitted_count(stack)
    return {
        "backend": backend,
        "backlog": BACKLOG,
        "window_s": round(elapsed, 1),
        "quota_per_minute": SUBMITS_PER_MINUTE,
        "admitted_per_minute": round(admitted * 60 / elapsed, 1),
        "submit_tasks": tasks,
        "admitted": admitted,
        "still_pending": pending,
        "worker_and_beat_cores": round(cpu_s / elapsed, 3),
        "second_account_wait_s": None if late_wait_s is None else round(late_wait_s, 2),
        "token_interval_s": round(60 / SUBMITS_PER_MINUTE, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--warm-s", type=float, default=15.0, help="before the window starts")
    args = parser.parse_args()
    print(json.dumps(measure(args.backend, args.window_s, args.warm_s), indent=2))


if __name__ == "__main__":
    main()
