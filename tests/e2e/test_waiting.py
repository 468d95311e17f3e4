"""Waiting without polling: `Prefer: wait=N` on submit and status, and the job's event stream."""

import asyncio
import json
import secrets
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from devtools.processes import free_port, wait_for
from shared.credits import insert_paid_jobs
from shared.db import write_session
from shared.job_events import channel
from shared.lifecycle import Step, advance_all
from shared.models import JOBS, Job
from shared.redis_client import get_redis
from shared.states import JobStatus
from tests.conftest import AccountInfo, Stack, Workers, running_gateway, start_gateway
from tests.support.api import create_video, status, wait_terminal

pytestmark = pytest.mark.e2e

BODY = {"generationType": "text_to_video", "aspectRatio": "16:9"}


def unique(prompt: str) -> str:
    return f"{prompt} #{secrets.token_hex(4)}"


@pytest.fixture
def user(account: Callable[..., AccountInfo], workers: Workers) -> AccountInfo:
    return account(credits=100)


def waited(headers: dict[str, str], seconds: int | str) -> dict[str, str]:
    return {**headers, "Prefer": f"wait={seconds}"}


def test_submit_with_prefer_wait_answers_once_the_video_is_done(
    client: httpx.Client, user: AccountInfo
) -> None:
    prompt = unique("A lighthouse at dusk [sim latency=1]")
    answer = client.post(
        "/api/generate-video", json={**BODY, "prompt": prompt}, headers=waited(user.headers, 60)
    )
    body = answer.json()
    assert body["code"] == 0, body
    assert answer.headers["preference-applied"] == "wait=60"
    assert body["data"]["status"] == "completed"
    assert body["data"]["videoUrl"]
    assert body["data"]["prompt"] == prompt
    assert status(client, user.headers, body["data"]["uuid"])["status"] == "completed"


def test_a_wait_outlasts_seconds_of_silence_on_its_subscription(
    client: httpx.Client, user: AccountInfo
) -> None:
    """Nothing is published while Veo generates: a quiet subscription is not a lost one."""
    uuid = create_video(client, user.headers, unique("a slow one [sim latency=6]"))
    answer = client.get(f"/api/video-status/{uuid}", headers=waited(user.headers, 40))
    assert answer.json()["data"]["status"] == "completed"


def test_status_with_prefer_wait_answers_the_terminal_status(
    client: httpx.Client, user: AccountInfo
) -> None:
    uuid = create_video(client, user.headers, unique("fails later [sim latency=1 error=13]"))
    answer = client.get(f"/api/video-status/{uuid}", headers=waited(user.headers, 30))
    assert answer.headers["preference-applied"] == "wait=30"
    data = answer.json()["data"]
    assert data["status"] == "failed", data
    assert data["error"]


def test_a_wait_that_runs_out_answers_the_current_status(
    client: httpx.Client, user: AccountInfo
) -> None:
    uuid = create_video(client, user.headers, unique("endless [sim never-finish]"))
    answer = client.get(f"/api/video-status/{uuid}", headers=waited(user.headers, 1))
    assert answer.headers["preference-applied"] == "wait=1"
    assert answer.json()["data"]["status"] in {"pending", "processing"}
    submitted = client.post(
        "/api/generate-video",
        json={**BODY, "prompt": unique("endless too [sim never-finish]")},
        headers=waited(user.headers, 1),
    )
    assert submitted.json()["data"]["status"] in {"pending", "processing"}
    assert submitted.headers["preference-applied"] == "wait=1"


def test_a_long_wait_is_cut_to_the_maximum_and_a_malformed_one_is_ignored(
    client: httpx.Client, user: AccountInfo
) -> None:
    uuid = create_video(client, user.headers, unique("cut [sim latency=1]"))
    answer = client.get(f"/api/video-status/{uuid}", headers=waited(user.headers, 3600))
    assert answer.headers["preference-applied"] == "wait=60"
    assert answer.json()["data"]["status"] == "completed"
    for malformed in ("wait=soon", "wait", "wait=-1", "wait=1.5"):
        plain = client.get(
            f"/api/video-status/{uuid}", headers={**user.headers, "Prefer": malformed}
        )
        assert plain.json()["code"] == 0
        assert "preference-applied" not in plain.headers
    several = client.get(
        f"/api/video-status/{uuid}",
        headers={**user.headers, "Prefer": "respond-async, wait=5; foo=bar, wait=9"},
    )
    assert several.headers["preference-applied"] == "wait=5"


def events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The stream's events (comments kept as {"comment": ...}), as the client reads them."""
    event: dict[str, Any] = {}
    for line in lines:
        if line == "":
            if event:
                yield event
            event = {}
        elif line.startswith(":"):
            yield {"comment": line[1:].strip()}
        else:
            field, _, value = line.partition(":")
            event[field] = value.removeprefix(" ")
    if event:
        yield event


def read_stream(
    client: httpx.Client, uuid: str, headers: dict[str, str], *, first_only: bool = False
) -> list[dict[str, Any]]:
    received = []
    with client.stream("GET", f"/api/videos/{uuid}/events", headers=headers) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        for event in events(answer.iter_lines()):
            if "comment" in event:
                continue
            received.append(event)
            if first_only:
                break
    return received


def test_the_event_stream_runs_from_pending_to_completed_and_ends(
    client: httpx.Client, user: AccountInfo
) -> None:
    uuid = create_video(client, user.headers, unique("streamed [sim latency=2]"))
    received = read_stream(client, uuid, user.headers)
    datas = [json.loads(event["data"]) for event in received]
    assert {event["event"] for event in received} == {"status"}
    assert datas[0]["status"] in {"pending", "processing"}
    assert datas[-1]["status"] == "completed"
    assert datas[-1]["videoUrl"]
    assert all(data["status"] != "completed" for data in datas[:-1])
    ids = [int(event["id"]) for event in received]
    assert ids == sorted(set(ids))
    assert all(data["uuid"] == uuid for data in datas)


def test_last_event_id_resumes_after_what_the_client_has(
    client: httpx.Client, user: AccountInfo
) -> None:
    uuid = create_video(client, user.headers, unique("resumed [sim latency=2]"))
    first = read_stream(client, uuid, user.headers, first_only=True)[0]
    rest = read_stream(client, uuid, {**user.headers, "Last-Event-ID": first["id"]})
    assert int(rest[0]["id"]) > int(first["id"])
    assert json.loads(rest[-1]["data"])["status"] == "completed"
    # The whole stream again from the start is the terminal event alone (the job is done).
    again = read_stream(client, uuid, user.headers)
    assert [json.loads(event["data"])["status"] for event in again] == ["completed"]
    # A client that has the terminal event is told there is nothing more (EventSource stops).
    done = client.get(
        f"/api/videos/{uuid}/events", headers={**user.headers, "Last-Event-ID": rest[-1]["id"]}
    )
    assert done.status_code == 204


def test_the_stream_sends_heartbeats(stack: Stack, user: AccountInfo) -> None:
    env = {"VEO_EVENTS_HEARTBEAT_S": "0.2"}
    with (
        running_gateway(stack, "gateway-heartbeat", env=env) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        uuid = create_video(client, user.headers, unique("quiet [sim never-finish]"))
        path = f"/api/videos/{uuid}/events"
        with client.stream("GET", path, headers=user.headers) as answer:
            kinds = []
            for event in events(answer.iter_lines()):
                kinds.append("ping" if event.get("comment") == "ping" else event.get("event"))
                if kinds.count("ping") == 2:
                    break
    assert kinds[0] == "status"
    assert kinds.count("ping") == 2


def test_a_stopping_gateway_ends_its_streams_and_waits(stack: Stack, user: AccountInfo) -> None:
    """Asked to stop, the gateway answers its waits with the current status and ends its
    streams (their clients resume elsewhere) instead of waiting for them."""
    proc, url = start_gateway(stack, "gateway-stopping", free_port())
    try:
        with httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(1) as pool:
            uuid = create_video(client, user.headers, unique("long [sim never-finish]"))
            other = create_video(client, user.headers, unique("long too [sim never-finish]"))
            path = f"/api/videos/{uuid}/events"
            with client.stream("GET", path, headers=user.headers) as stream:
                lines = stream.iter_lines()
                first = next(event for event in events(lines) if "comment" not in event)
                waiting = pool.submit(
                    client.get, f"/api/video-status/{other}", headers=waited(user.headers, 60)
                )
                wait_for(lambda: subscribers(channel(other)), timeout_s=30, what="the wait")
                proc.popen.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
                rest = list(events(lines))
            answer = waiting.result(timeout=30)
        # Gone by itself (uvicorn raises the signal again once it has shut down), not killed.
        assert proc.popen.wait(timeout=30) in {0, -signal.SIGTERM}  # type: ignore[union-attr]
    finally:
        proc.stop()
    assert json.loads(first["data"])["status"] in {"pending", "processing"}
    # The stream ended (no terminal status: the jobs never finish); it may have told of a move
    # to processing first, on a busy machine.
    assert all(
        "comment" in event or json.loads(event["data"])["status"] in {"pending", "processing"}
        for event in rest
    )
    assert answer.json()["data"]["status"] in {"pending", "processing"}


def subscribers(name: str) -> int:
    return int(get_redis().pubsub_numsub(name)[0][1])


def test_another_accounts_job_is_unknown_to_waits_and_streams(
    client: httpx.Client, user: AccountInfo, account: Callable[..., AccountInfo]
) -> None:
    uuid = create_video(client, user.headers, unique("mine [sim latency=1]"))
    wait_terminal(client, user.headers, uuid)
    stranger = account(credits=10)
    unknown = "00000000-0000-4000-8000-000000000000"
    for path in ("/api/videos/{}/events", "/api/video-status/{}"):
        answers = [
            client.get(path.format(job), headers=waited(stranger.headers, 5))
            for job in (uuid, unknown)
        ]
        assert answers[0].status_code == answers[1].status_code == 404
        assert answers[0].json() == answers[1].json()
        assert answers[0].json()["code"] == 1000


WAITERS = 1000


def admitted_jobs(account_id: str, count: int) -> list[Job]:
    """Paid jobs as the dispatcher leaves them, written together (no message: nothing runs)."""
    jobs = [
        Job(
            account_id=account_id,
            generation_type="text_to_video",
            prompt=f"crowd {n}",
            aspect_ratio="16:9",
            credits_charged=2,
            status=JobStatus.ADMITTED,
        )
        for n in range(count)
    ]
    assert insert_paid_jobs([job.model_dump() for job in jobs]) == [None] * count
    return jobs


def finish(jobs: list[Job]) -> None:
    """Each job through submitting and processing to completed, a batch at a time, as the
    submit and poll tasks move them (shared.lifecycle, which publishes each change)."""
    for start in range(0, len(jobs), 100):
        batch = jobs[start : start + 100]
        with write_session() as session:
            moves = [
                [Step(job, JobStatus.SUBMITTING, {"submit_attempts": 1}) for job in batch],
                [Step(job, JobStatus.PROCESSING, {"upstream_operation": job.id}) for job in batch],
                [
                    Step(job, JobStatus.COMPLETED, {"video_key": f"videos/{job.id}.mp4"})
                    for job in batch
                ],
            ]
            for steps in moves:
                assert all(advance_all(session, steps))


def subscribed(channels: list[str]) -> bool:
    counts = get_redis().pubsub_numsub(*channels)
    return all(int(count) > 0 for _, count in counts)


@pytest.mark.one_database  # the hub is the gateway's, not the database's
def test_a_thousand_waiting_requests_on_one_gateway_complete_with_their_jobs(
    quiet_stack: Stack, account: Callable[..., AccountInfo]
) -> None:
    """Waits on one gateway process, the jobs moved by this test (no worker serves this stack):
    every answer is the completed job, long before the wait would have run out."""
    payer = account(credits=2 * WAITERS)
    jobs = admitted_jobs(payer.account_id, WAITERS)
    channels = [channel(job.id) for job in jobs]

    async def wait_all(url: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=WAITERS + 10, max_keepalive_connections=WAITERS)
        async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
            waits = [
                asyncio.create_task(
                    http.get(f"/api/video-status/{job.id}", headers=waited(payer.headers, 60))
                )
                for job in jobs
            ]
            await asyncio.to_thread(
                wait_for, lambda: subscribed(channels), timeout_s=120, what="every wait listening"
            )
            assert not any(wait.done() for wait in waits)
            await asyncio.to_thread(finish, jobs)
            return await asyncio.gather(*waits)

    with running_gateway(quiet_stack, "gateway-waiters") as url:
        answers = asyncio.run(wait_all(url))
    bodies = [answer.json() for answer in answers]
    assert all(body["code"] == 0 for body in bodies), [b for b in bodies if b["code"]][:3]
    assert [body["data"]["status"] for body in bodies] == ["completed"] * WAITERS
    assert {answer.headers["preference-applied"] for answer in answers} == {"wait=60"}
    # Out of the window the sweeper mirrors again (a batch of its own size would hide the
    # finishes of the next tests on this stack from it).
    with write_session() as session:
        session.execute(
            JOBS.update()
            .where(JOBS.c.account_id == payer.account_id)
            .values(updated_at=datetime(2000, 1, 1, tzinfo=UTC))
        )
        session.commit()
