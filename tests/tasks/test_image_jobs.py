"""Image jobs: the image is fetched only by the task that claimed the job, so a message sent
again while a slow fetch runs (the sweeper's resend, a redelivery) asks the user's host nothing
and submits nothing."""

import asyncio
import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from shared.constants import QUEUE_INPUTS, QUEUE_SUBMIT
from shared.models import Job
from shared.netguard.fetch import FetchedBody
from shared.settings import Settings
from tests.support.broker import queued
from tests.support.fake_upstream import FakeUpstream
from tests.support.jobs import reload_job
from tests.tasks.test_dispatch import new_account, waiting_jobs
from worker.tasks import inputs, sweep
from worker.tasks.dispatch import dispatch
from worker.tasks.submit import submit_job


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (128, 72), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_message_sent_again_during_a_slow_image_fetch_does_nothing(
    configure: Callable[..., Settings], upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the first task fetches the image, the sweeper runs (with every message counted as
    stale) and the message is delivered again: the host is asked once, the upstream once."""
    configure(sweep_stale_after_s=0)
    [job_id] = waiting_jobs(new_account(), 1, kind="image_to_video")
    fetched: list[str] = []
    again: list[str] = []

    def deliver_again() -> None:
        sweep.sweep.run()  # would resend a job that looks quiet
        resent = [m.args for q in (QUEUE_SUBMIT, QUEUE_INPUTS) for m in queued(q)]
        again.extend(
            submit_job.run(*args) for args in resent
        )  # the dispatcher's own, and any resend
        again.append(submit_job.run(job_id))  # a redelivery

    async def slow_fetch(url: str, **_: Any) -> FetchedBody:
        fetched.append(url)
        if len(fetched) == 1:  # in the middle of the first fetch
            await asyncio.to_thread(deliver_again)
        return FetchedBody(png(), "image/png", url)

    monkeypatch.setattr(inputs, "fetch_limited", slow_fetch)
    assert dispatch.run() == 1

    assert submit_job.run(job_id) == "processing"

    assert fetched == ["https://images.example/a.png"]
    assert len(again) >= 2
    assert set(again) == {"skipped"}
    assert len(upstream.requests) == 1
    row = reload_job_by_id(job_id)
    assert (row.status, row.submit_attempts) == ("processing", 1)


def test_an_unreachable_image_fails_the_job_and_frees_its_place(
    settings: Settings, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fetch fails after the claim: the job fails (the user's input, no refund), nothing
    is submitted, and the account's next image job is admitted in its place."""
    [first, second, third] = waiting_jobs(new_account(), 3, kind="image_to_video")

    async def refused(url: str, **_: Any) -> FetchedBody:
        raise ConnectionRefusedError(url)

    monkeypatch.setattr(inputs, "fetch_limited", refused)
    assert dispatch.run() == 2  # two per account at once
    assert submit_job.run(first) == "failed"

    row = reload_job_by_id(first)
    assert (row.status, row.error_code) == ("failed", "image_unavailable")
    assert upstream.requests == []
    assert dispatch.run() == 1
    assert [m.args for m in queued(QUEUE_INPUTS)] == [[first], [second], [third]]


def reload_job_by_id(job_id: str) -> Job:
    return reload_job(Job(id=job_id))
