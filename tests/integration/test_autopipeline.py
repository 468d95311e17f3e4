"""The gateway's Redis batcher (api_gateway/autopipeline.py), against a real Redis: calls made
together leave together, and each caller gets its own reply or its own error."""

import asyncio
import secrets

import pytest
import redis
import redis.asyncio

from api_gateway.autopipeline import AutoPipeline
from tests.support.processes import free_port


class CountingRedis(redis.asyncio.Redis):
    """Counts the round trips: one per pipeline, one per direct command."""

    round_trips = 0

    def pipeline(self, *args: object, **kwargs: object) -> "redis.asyncio.client.Pipeline":
        CountingRedis.round_trips += 1
        return super().pipeline(*args, **kwargs)  # type: ignore[arg-type]

    async def execute_command(self, *args: object, **options: object) -> object:
        CountingRedis.round_trips += 1
        return await super().execute_command(*args, **options)


def test_concurrent_calls_share_one_round_trip_and_keep_their_own_replies(redis_url: str) -> None:
    key = f"veotest-autopipeline-{secrets.token_hex(4)}"

    async def scenario() -> tuple[list[object], int]:
        client = CountingRedis.from_url(redis_url, decode_responses=True)
        batcher = AutoPipeline(client)
        try:
            await client.set(f"{key}:text", "not a number")
            CountingRedis.round_trips = 0
            calls = [batcher.execute("INCRBY", f"{key}:n", i) for i in range(1, 21)]
            calls.insert(7, batcher.execute("INCR", f"{key}:text"))  # an error reply
            return await asyncio.gather(*calls, return_exceptions=True), CountingRedis.round_trips
        finally:
            await client.delete(f"{key}:n", f"{key}:text")
            await client.aclose()

    replies, round_trips = asyncio.run(scenario())
    assert round_trips == 1
    error = replies.pop(7)
    assert isinstance(error, redis.ResponseError)
    assert replies == [sum(range(1, i + 1)) for i in range(1, 21)]  # in the order they were made


def test_a_lone_call_is_answered_as_a_plain_command(redis_url: str) -> None:
    async def scenario() -> object:
        client = CountingRedis.from_url(redis_url, decode_responses=True)
        try:
            CountingRedis.round_trips = 0
            return await AutoPipeline(client).execute("PING")
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) is True
    assert CountingRedis.round_trips == 1


def test_every_waiting_caller_gets_the_error_when_redis_is_unreachable() -> None:
    async def scenario() -> list[object]:
        client = redis.asyncio.Redis(port=free_port(), socket_connect_timeout=1)
        try:
            batcher = AutoPipeline(client)
            calls = [batcher.execute("GET", f"k{i}") for i in range(5)]
            return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
        finally:
            await client.aclose()

    replies = asyncio.run(scenario())
    assert len(replies) == 5
    assert all(isinstance(reply, redis.ConnectionError) for reply in replies), replies


@pytest.mark.parametrize("cancelled", [0, 3])
def test_a_cancelled_caller_does_not_disturb_the_others(redis_url: str, cancelled: int) -> None:
    async def scenario() -> list[object]:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            batcher = AutoPipeline(client)
            calls = [asyncio.ensure_future(batcher.execute("ECHO", str(i))) for i in range(6)]
            await asyncio.sleep(0)  # every call is queued; none has been sent
            calls[cancelled].cancel()
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await client.aclose()

    replies = asyncio.run(scenario())
    assert isinstance(replies.pop(cancelled), asyncio.CancelledError)
    assert replies == [str(i) for i in range(6) if i != cancelled]
