"""Section 7: what a waiting request (`Prefer: wait=N`) costs one gateway process.

`waiters` jobs are inserted `processing` (no worker runs: nothing moves them but this section).
Baseline, same run: one plain `GET /api/video-status/{uuid}` per job, all at once, and the
gateway's CPU for them. Then one `GET` per job with `Prefer: wait=60`, all at once, each on a
connection of its own: once Redis counts a subscriber on every job's channel (PUBSUB NUMSUB),
and SETTLE_S later, the gateway's CPU and RSS (whole uvicorn tree, psutil) give the cost of
starting a waiter and the memory it holds; `waiters_hold_s` seconds of nothing give its CPU
while it waits; then a separate process completes every job through shared.lifecycle (as the
poll task does, 500 per commit, each change published), and the time from each commit to its
jobs' answers, and the CPU for answering, are read. Every answer must be `completed`.
"""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import Config, insert_processing_jobs
from bench.procs import MeasuredProc
from bench.stack import Stack
from bench.stats import dist

FINISH_BATCH = 500
SUBSCRIBED_TIMEOUT_S = 120.0
SETTLE_S = 1.0


def finish(ids_file: str) -> None:
    """In the stack's environment: every job to completed, FINISH_BATCH per commit (in the
    file's order); prints each commit's wall-clock time (JSON)."""
    from sqlalchemy import select

    from shared.db import write_session
    from shared.lifecycle import STEP_FIELDS, Step, advance_all
    from shared.models import JOBS
    from shared.states import JobStatus

    ids = json.loads(Path(ids_file).read_text())
    columns = [JOBS.c[name] for name in STEP_FIELDS]
    committed = []
    for start in range(0, len(ids), FINISH_BATCH):
        batch = ids[start : start + FINISH_BATCH]
        with write_session() as session:
            rows = session.execute(select(*columns).where(JOBS.c.id.in_(batch))).all()
            steps = [
                Step(row, JobStatus.COMPLETED, {"video_key": f"videos/{row.id}.mp4"})
                for row in rows
            ]
            advance_all(session, steps)
        committed.append(time.time())  # advance_all has committed and published
    print(json.dumps(committed))


def _all_subscribed(stack: Stack, ids: list[str]) -> bool:
    channels = [stack.rkey("job-events", job_id) for job_id in ids]
    counts = stack.redis().pubsub_numsub(*channels)
    return all(int(count) > 0 for _, count in counts)


def _wait_subscribed(stack: Stack, ids: list[str]) -> None:
    deadline = time.monotonic() + SUBSCRIBED_TIMEOUT_S
    while not _all_subscribed(stack, ids):
        if time.monotonic() > deadline:
            raise TimeoutError("the waiting requests never all subscribed")
        time.sleep(0.2)


async def _plain(http: httpx.AsyncClient, ids: list[str]) -> int:
    answers = await asyncio.gather(*(http.get(f"/api/video-status/{job}") for job in ids))
    return sum(1 for answer in answers if answer.json().get("code") != 0)


async def _get(port: int, path: str, headers: dict[str, str]) -> tuple[dict[str, Any], float]:
    """One GET on a connection of its own, read with asyncio streams: a client whose own cost
    per answer does not grow with the number of connections (httpx's pool scans them all), so
    the times measured are the gateway's. The JSON body and when it was read in full."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    body = await reader.readexactly(length)
    at = time.time()
    writer.close()
    return json.loads(body), at


async def _measure(
    stack: Stack, gateway: MeasuredProc, key: str, ids: list[str], cfg: Config, log: Any
) -> dict[str, Any]:
    n = len(ids)
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=180, limits=limits, headers=headers
    ) as http:
        await _plain(http, ids)  # warm: every connection open, every job mirrored in Redis
        cpu0 = gateway.tree_cpu_s()
        plain_errors = await _plain(http, ids)
        plain_cpu_s = gateway.tree_cpu_s() - cpu0

        waiting = {**headers, "Prefer": "wait=60"}
        rss0, cpu0 = gateway.tree_rss_bytes(), gateway.tree_cpu_s()
        waits = [
            asyncio.create_task(_get(stack.gateway_port, f"/api/video-status/{job}", waiting))
            for job in ids
        ]
        await asyncio.to_thread(_wait_subscribed, stack, ids)
        # Subscribed, each waiter still reads its job's status once: counted in its start.
        await asyncio.sleep(SETTLE_S)
        rss1, cpu1 = gateway.tree_rss_bytes(), gateway.tree_cpu_s()
        log(f"  {n} waiting; holding {cfg.waiters_hold_s:.0f} s")
        await asyncio.sleep(cfg.waiters_hold_s)
        rss2, cpu2 = gateway.tree_rss_bytes(), gateway.tree_cpu_s()
        ids_file = stack.data_dir / "waiter-ids.json"
        ids_file.write_text(json.dumps(ids))
        code = f"from bench.waiters import finish; finish({str(ids_file)!r})"
        published: list[float] = json.loads(
            (await asyncio.to_thread(stack._python, code)).strip().splitlines()[-1]
        )
        done = await asyncio.gather(*waits)
        cpu3 = gateway.tree_cpu_s()
    statuses = [answer.get("data", {}).get("status") for answer, _ in done]
    after_commit = [at - published[i // FINISH_BATCH] for i, (_, at) in enumerate(done)]
    return {
        "waiters": n,
        "completed": statuses.count("completed"),
        "plain_errors": plain_errors,
        "plain_status_cpu_ms_per_req": plain_cpu_s / n * 1000,
        "start_cpu_ms_per_waiter": (cpu1 - cpu0) / n * 1000,
        "rss_bytes_per_waiter": (rss1 - rss0) / n,
        "rss_before_bytes": rss0,
        "hold_s": cfg.waiters_hold_s,
        "hold_cpu_us_per_waiter_s": (cpu2 - cpu1) / n / cfg.waiters_hold_s * 1e6,
        "hold_rss_growth_bytes": rss2 - rss1,
        "answer_cpu_ms_per_waiter": (cpu3 - cpu2) / n * 1000,
        "commits": len(published),
        "answered_after_commit_s": dist(after_commit),
    }


def run(ctx: Any, backend: str, cfg: Config, log: Any) -> dict[str, Any]:
    with Stack(ctx, backend, "waiters", {}) as stack:
        gateway = stack.start_gateway()
        account_id, key = stack.create_account(credits=10**9, rate_limit=10**9)
        operations = [f"models/veo/operations/bench-wait-{i}" for i in range(cfg.waiters)]
        ids = insert_processing_jobs(
            stack, account_id, operations, first_due_s=86_400, spread_s=1, poll_count=0
        )
        result = asyncio.run(_measure(stack, gateway, key, ids, cfg, log))
        log(
            f"  {result['completed']}/{result['waiters']} completed; "
            f"{result['rss_bytes_per_waiter'] / 1024:.1f} KiB and "
            f"{result['start_cpu_ms_per_waiter']:.2f} ms CPU to start a waiter "
            f"(plain status {result['plain_status_cpu_ms_per_req']:.2f} ms); "
            f"{result['hold_cpu_us_per_waiter_s']:.1f} µs CPU per waiter-second; "
            f"{result['answer_cpu_ms_per_waiter']:.2f} ms to answer"
        )
        return result
