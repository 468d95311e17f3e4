"""The videos page's live stream (api_gateway/dashboard/live.py) sends a change when it is
committed, from the job's pub/sub channel, not when its clock next reads the database."""

import asyncio
from collections.abc import Callable

import pytest

from api_gateway.dashboard import live
from shared.settings import get_settings
from tests.conftest import AccountInfo
from tests.support.jobs import complete, insert_paid_job, to_processing

pytestmark = pytest.mark.usefixtures("quiet_stack")


def test_each_change_reaches_the_page_when_it_is_committed_and_the_stream_then_ends(
    account: Callable[..., AccountInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEO_EVENTS_PROGRESS_INTERVAL_S", "600")  # the clock never ticks here
    get_settings.cache_clear()
    info = account(credits=10)
    job, bystander = insert_paid_job(info.account_id), insert_paid_job(info.account_id)

    async def scenario() -> list[bytes]:
        stream = live.status_events(info.account_id, [job.id])
        chunks = [await anext(stream)]
        processing = await asyncio.to_thread(to_processing, job)
        await asyncio.to_thread(to_processing, bystander)  # another job's change: no event
        chunks.append(await asyncio.wait_for(anext(stream), 30))
        await asyncio.to_thread(complete, processing)
        chunks.append(await asyncio.wait_for(anext(stream), 30))
        chunks += [chunk async for chunk in stream]
        return chunks

    chunks = asyncio.run(scenario())
    statuses = [chunk.split(b'"status": "')[1].split(b'"')[0] for chunk in chunks]
    assert statuses == [b"pending", b"processing", b"completed"]
    assert all(job.id.encode() in chunk for chunk in chunks)
    assert [chunk.split(b"\n")[0] for chunk in chunks] == [b"id: 1", b"id: 2", b"id: 3"]
