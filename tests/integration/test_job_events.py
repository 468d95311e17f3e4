"""A job's changes reach the requests waiting on it through Redis pub/sub (shared.job_events,
api_gateway/waiting_hub.py), also when the subscription's connection is lost on the way."""

import asyncio
from collections.abc import Callable

import pytest
import redis.asyncio

from api_gateway.waiting_hub import FAILED, RESYNC, JobEventHub, Listener
from shared.job_view import StatusRow
from shared.redis_client import get_redis
from shared.settings import get_settings
from tests.conftest import AccountInfo
from tests.support.jobs import complete, insert_paid_job, to_processing

pytestmark = pytest.mark.usefixtures("quiet_stack")


def new_hub() -> JobEventHub:
    client = redis.asyncio.Redis.from_url(get_settings().redis_url, decode_responses=True)
    return JobEventHub(client, confirm_timeout_s=10)


async def next_row(listener: Listener) -> StatusRow | str | None:
    """The next change, skipping resyncs (a listener may get one at any time)."""
    while (event := await listener.next(30)) == RESYNC:
        pass
    return event


def test_each_committed_change_reaches_every_listener_of_the_job(
    account: Callable[..., AccountInfo],
) -> None:
    info = account(credits=10)
    job = insert_paid_job(info.account_id)
    other = insert_paid_job(info.account_id)

    async def scenario() -> list[object]:
        hub = new_hub()
        async with (
            hub.listening(job.id) as first,
            hub.listening(job.id) as second,
            hub.listening(other.id) as bystander,
        ):
            assert hub.waiting == 3
            processing = await asyncio.to_thread(to_processing, job)
            seen = [await next_row(first), await next_row(second)]
            await asyncio.to_thread(complete, processing)
            seen += [await next_row(first), await next_row(second)]
            seen.append(await bystander.next(0))
        assert hub.waiting == 0
        return seen

    seen = asyncio.run(scenario())
    statuses = [row.status if isinstance(row, StatusRow) else row for row in seen]
    assert statuses == ["processing", "processing", "completed", "completed", None]
    assert all(row.id == job.id for row in seen[:4] if isinstance(row, StatusRow))


def test_one_listener_hears_every_job_it_listens_to_and_leaves_no_subscription(
    account: Callable[..., AccountInfo],
) -> None:
    """The dashboard's case: one listener on several jobs gets each job's changes; leaving
    unsubscribes them all, also a job listed twice."""
    info = account(credits=10)
    first, second = insert_paid_job(info.account_id), insert_paid_job(info.account_id)

    async def scenario() -> tuple[set[str], int, int]:
        hub = new_hub()
        async with hub.listening(first.id, second.id, first.id) as listener:
            during = hub.waiting
            await asyncio.to_thread(to_processing, first)
            await asyncio.to_thread(to_processing, second)
            rows = [await next_row(listener), await next_row(listener)]
        return {row.id for row in rows if isinstance(row, StatusRow)}, during, hub.waiting

    heard, during, after = asyncio.run(scenario())
    assert heard == {first.id, second.id}
    assert (during, after) == (2, 0)


def test_a_lost_subscription_tells_listeners_to_read_again_and_then_delivers_again(
    account: Callable[..., AccountInfo],
) -> None:
    """Changes published while the connection is down are gone: every listener is told so
    (RESYNC once subscribed again, or FAILED: stop waiting), and later changes arrive."""
    info = account(credits=10)
    job = to_processing(insert_paid_job(info.account_id))

    async def scenario() -> tuple[object, object]:
        hub = new_hub()
        async with hub.listening(job.id) as listener:
            connection = hub._pubsub.connection  # the one to cut
            assert connection is not None
            host, port = connection._writer.get_extra_info("sockname")[:2]
            await asyncio.to_thread(get_redis().client_kill, f"{host}:{port}")
            told = await listener.next(30)
            if told == RESYNC:
                await asyncio.to_thread(complete, job)
                return told, await next_row(listener)
        # FAILED: its waiters have answered; the next one subscribes on a new connection.
        async with hub.listening(job.id) as listener:
            await asyncio.to_thread(complete, job)
            return told, await next_row(listener)

    told, after = asyncio.run(scenario())
    assert told in {RESYNC, FAILED}
    assert isinstance(after, StatusRow)
    assert after.status == "completed"
