"""Helpers the sections share: make jobs (through the API or straight into the database), create
simulator operations, read what the receiver got and what the database says."""

import asyncio
import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select
from sqlmodel import SQLModel

import shared.models  # noqa: F401 - registers the tables on SQLModel.metadata
from bench.stack import Stack
from shared.settings import Settings
from worker.upstream.base import SubmitRequest, VideoSettings
from worker.upstream.gemini import DEFAULT_MODEL
from worker.upstream.longrunning import predict_body

SUBMIT_CONCURRENCY = 16
# Settings that take the global upstream quotas out of a measurement (section 6 measures them).
QUOTAS_LIFTED = {
    "VEO_UPSTREAM_SUBMITS_PER_MINUTE": "100000000",
    "VEO_UPSTREAM_POLLS_PER_SECOND": "100000",
    "VEO_UPSTREAM_MAX_IN_FLIGHT": "1000000",
}


@dataclass
class Config:
    """Sizes and durations of one run; `quick` shrinks them for a smoke run."""

    quick: bool = False
    connections: int = 32
    duration_s: float = 4.0
    warmup_s: float = 2.0
    reps: int = 3
    status_jobs: int = 1000
    noop_tasks: int = 2000
    noop_reps: int = 3
    pipeline_jobs: int = 2000
    pipeline_first_poll_s: float = 0.5
    inflight: int = 10_000
    inflight_observe_s: float = 30.0
    lag_jobs: int = 300  # the median of 100 ratios moved by ±0.05 between runs
    lag_max_latency_s: float = 30.0
    burst_jobs: int = 100
    rate_per_minute: int = 600
    rate_jobs: int = 300
    rate_workers: int = 2
    rate_observe_s: float = 15.0
    waiters: int = 2000
    waiters_hold_s: float = 5.0
    ttr_jobs: int = 200  # time to result: jobs per configuration
    ttr_window_s: float = 120.0  # over which they arrive
    loadgen: str = "wrk"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick_config(cls) -> "Config":
        return cls(
            quick=True,
            duration_s=3.0,
            warmup_s=1.0,
            reps=1,
            status_jobs=200,
            noop_tasks=1000,
            noop_reps=1,
            pipeline_jobs=200,
            inflight=1000,
            inflight_observe_s=15.0,
            lag_jobs=30,
            lag_max_latency_s=12.0,
            burst_jobs=30,
            rate_jobs=250,
            rate_observe_s=8.0,
            waiters=1000,
            waiters_hold_s=3.0,
            ttr_jobs=40,
            ttr_window_s=20.0,
        )


def stack_settings(stack: Stack) -> Settings:
    """The stack's settings as its processes see them (for celery_config, backoff, ...)."""
    values: dict[str, Any] = {
        k.removeprefix("VEO_").lower(): v for k, v in stack.env.items() if k.startswith("VEO_")
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def jobs_table() -> Any:
    return SQLModel.metadata.tables["jobs"]


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def insert_processing_jobs(
    stack: Stack,
    account_id: str,
    operations: list[str],
    *,
    first_due_s: float,
    spread_s: float,
    poll_count: int,
) -> list[str]:
    """Job rows already `processing` (as the submit task leaves them), polls spread over time."""
    now = datetime.now(UTC)
    rows = []
    for i, operation in enumerate(operations):
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "account_id": account_id,
                "status": "processing",
                "generation_type": "text_to_video",
                "prompt": f"bench in-flight {i}",
                "aspect_ratio": "16:9",
                "credits_charged": 2,
                "upstream_operation": operation,
                "submit_attempts": 1,
                "poll_count": poll_count,
                "next_poll_at": now + timedelta(seconds=first_due_s + random.uniform(0, spread_s)),
                "deadline_at": now + timedelta(hours=6),
                "created_at": now,
                "updated_at": now,
                "submitted_at": now,
                "processing_at": now,
            }
        )
    with stack.engine().begin() as conn:
        for start in range(0, len(rows), 1000):
            conn.execute(insert(jobs_table()), rows[start : start + 1000])
    return [str(row["id"]) for row in rows]


async def _create_operations(base_url: str, count: int, prompt: str) -> list[str]:
    body = predict_body(
        SubmitRequest(prompt=prompt, aspect_ratio="16:9"),
        VideoSettings(model=DEFAULT_MODEL, resolution="720p", duration_s=8, negative_prompt=""),
    )
    url = f"/v1beta/models/{DEFAULT_MODEL}:predictLongRunning"
    names: list[str] = []
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=30, headers={"x-goog-api-key": "simulator"}
    ) as client:
        todo = iter(range(count))

        async def one() -> None:
            for _ in todo:
                response = await client.post(url, json=body)
                response.raise_for_status()
                names.append(response.json()["name"])

        await asyncio.gather(*(one() for _ in range(32)))
    return names


def create_operations(simulator_url: str, count: int, prompt: str) -> list[str]:
    """Operations made at the simulator over its real protocol (as our submit task would)."""
    return asyncio.run(_create_operations(simulator_url, count, prompt))


async def _submit(
    base_url: str, key: str, prompts: list[str], webhook_url: str | None
) -> list[tuple[str, float]]:
    """SUBMIT_CONCURRENCY keep-alive connections, each POSTing one prompt after another.

    A bare HTTP/1.1 client rather than httpx: the submitter shares the two cores with what it
    measures, and httpx's client side cost 1.3 ms of CPU a request, as much as the gateway's
    own work (the no-op baseline's producer costs 0.1 ms a task).
    """
    url = httpx.URL(base_url)
    head = (
        f"POST /api/generate-video HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
    ).encode()
    out: list[tuple[str, float]] = []
    todo = iter(prompts)

    async def one() -> None:
        reader, writer = await asyncio.open_connection(url.host, url.port)
        try:
            for prompt in todo:
                body: dict[str, Any] = {
                    "generationType": "text_to_video",
                    "prompt": prompt,
                    "aspectRatio": "16:9",
                }
                if webhook_url:
                    body["webhookUrl"] = webhook_url
                data = json.dumps(body).encode()
                at = time.time()
                writer.write(head + b"Content-Length: %d\r\n\r\n" % len(data) + data)
                answer = json.loads(await _read_response(reader))
                if answer.get("code") != 0:
                    raise RuntimeError(f"submit refused: {answer}")
                out.append((answer["data"]["uuid"], at))
        finally:
            writer.close()

    await asyncio.gather(*(one() for _ in range(SUBMIT_CONCURRENCY)))
    return out


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    """The body of one HTTP/1.1 response (the gateway always sends Content-Length)."""
    headers = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", headers)
    if length is None:
        raise RuntimeError(f"no Content-Length in {headers!r}")
    return await reader.readexactly(int(length.group(1)))


def submit_jobs(
    stack: Stack, key: str, prompts: list[str], webhook_url: str | None = None
) -> list[tuple[str, float]]:
    """POST /api/generate-video for each prompt (16 at a time); [(uuid, time sent)]."""
    return asyncio.run(_submit(stack.gateway_url, key, prompts, webhook_url))


def received(receiver_url: str, client: httpx.Client | None = None) -> list[tuple[str, str, float]]:
    items = (client or httpx).get(f"{receiver_url}/received", timeout=30).json()
    return [(str(uuid_), str(kind), float(at)) for uuid_, kind, at in items]


def wait_received(
    receiver_url: str, uuids: set[str], event: str, timeout_s: float
) -> dict[str, float]:
    """Wait until every uuid's `event` arrived; {uuid: first arrival time}. Polls the receiver's
    count of that event over one connection (a client per poll cost 15 % of a core in SSL
    context set-up alone) and reads the full list only once the count is reached."""
    deadline = time.monotonic() + timeout_s
    got: dict[str, float] = {}
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < deadline:
            count = client.get(f"{receiver_url}/count", params={"type": event}).json()
            if count >= len(uuids):
                got = {}
                for uuid_, kind, at in received(receiver_url, client):
                    if kind == event and uuid_ in uuids and uuid_ not in got:
                        got[uuid_] = at
                if len(got) >= len(uuids):
                    return got
            time.sleep(0.1)
    raise TimeoutError(f"only {len(got)} of {len(uuids)} {event} webhooks arrived in {timeout_s}s")


def job_rows(stack: Stack, ids: list[str]) -> dict[str, Any]:
    table = jobs_table()
    out: dict[str, Any] = {}
    with stack.engine().connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in conn.execute(select(table).where(table.c.id.in_(chunk))):
                out[row.id] = row
    return out


def wait_terminal(stack: Stack, ids: list[str], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    rows: dict[str, Any] = {}
    while time.monotonic() < deadline:
        rows = job_rows(stack, ids)
        if all(r.status in ("completed", "failed") for r in rows.values()) and len(rows) == len(
            ids
        ):
            return rows
        time.sleep(0.5)
    waiting = sum(r.status not in ("completed", "failed") for r in rows.values())
    raise TimeoutError(f"{waiting} of {len(ids)} jobs still not terminal after {timeout_s}s")


def ts(value: datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp() if value.tzinfo is None else value.timestamp()
