"""The gateway's admission counter (api_gateway/batching/admission.py), against a real Redis:
requests admitted together share one script call, and each gets its own answer or the shared
error."""

import asyncio
import secrets

import pytest
import redis
import redis.asyncio

from api_gateway.batching.admission import AdmissionCounter
from devtools.processes import free_port
from shared import key_cache
from shared.redis_client import get_redis
from shared.settings import get_settings
from tests.conftest import Stack


class CountingRedis(redis.asyncio.Redis):
    """Counts the commands sent: one per script call."""

    commands = 0

    async def execute_command(self, *args: object, **options: object) -> object:
        CountingRedis.commands += 1
        return await super().execute_command(*args, **options)


def _key_id() -> int:
    """A key id no other test counts against (rate-limit windows are per key id)."""
    return 10**9 + secrets.randbelow(10**9)


def _cached(record: key_cache.KeyRecord | None) -> str:
    """A key hash whose cache entry is `record` (None: revoked)."""
    key_hash = secrets.token_hex(32)
    entry = key_cache.encode(record) if record is not None else "revoked"
    get_redis().set(key_cache.cache_key(key_hash), entry, ex=60)
    return key_hash


def _count_together(redis_url: str, asks: list[tuple[str, str | None]]) -> tuple[list, int]:
    async def scenario() -> tuple[list, int]:
        client = CountingRedis.from_url(redis_url, decode_responses=True)
        try:
            counter = AdmissionCounter(client)
            CountingRedis.commands = 0
            answers = await asyncio.gather(*(counter.count(*ask) for ask in asks))
            return list(answers), CountingRedis.commands
        finally:
            await client.aclose()

    return asyncio.run(scenario())


def test_requests_admitted_together_share_one_call_and_get_their_own_answers(
    stack: Stack,
) -> None:
    key_id = _key_id()
    limited = _cached(key_cache.KeyRecord(key_id, "acct_limited", 2))
    revoked, unknown = _cached(None), secrets.token_hex(32)
    status_key = f"{stack.env['VEO_REDIS_KEY_PREFIX']}status-{secrets.token_hex(4)}"
    get_redis().set(status_key, "processing", ex=60)
    asks = [(limited, None), (unknown, None), (limited, status_key), (revoked, None)]
    asks.append((limited, None))

    answers, commands = _count_together(stack.redis_url, asks)

    assert commands == 1
    assert answers[1] == ["miss"]
    assert answers[3] == ["revoked"]
    counted = [answers[i] for i in (0, 2, 4)]
    assert [a[:5] for a in counted] == [
        ["ok", str(key_id), "acct_limited", 2, n] for n in (1, 2, 3)
    ]
    assert [a[6] for a in counted] == ["", "processing", ""]  # only the asker reads its key
    assert all(0 < int(a[5]) <= key_cache.RATE_WINDOW_S for a in counted)


def test_requests_are_answered_after_redis_lost_its_scripts(stack: Stack) -> None:
    key_id = _key_id()
    known = _cached(key_cache.KeyRecord(key_id, "acct_flushed", None))
    get_redis().script_flush()
    answers, _ = _count_together(stack.redis_url, [(known, None), (known, None)])
    default = get_settings().default_rate_limit_per_minute  # the key has no limit of its own
    assert [a[:5] for a in answers] == [
        ["ok", str(key_id), "acct_flushed", default, n] for n in (1, 2)
    ]


def test_every_waiting_request_gets_the_error_when_redis_is_unreachable() -> None:
    async def scenario() -> list[object]:
        client = redis.asyncio.Redis(port=free_port(), socket_connect_timeout=1)
        try:
            counter = AdmissionCounter(client)
            calls = [counter.count(f"{i:064x}") for i in range(5)]
            return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
        finally:
            await client.aclose()

    replies = asyncio.run(scenario())
    assert len(replies) == 5
    assert all(isinstance(reply, redis.ConnectionError) for reply in replies), replies


@pytest.mark.parametrize("cancelled", [0, 3])
def test_a_cancelled_request_does_not_disturb_the_others(stack: Stack, cancelled: int) -> None:
    known = _cached(key_cache.KeyRecord(_key_id(), "acct_cancel", 100))

    async def scenario() -> list[object]:
        client = redis.asyncio.Redis.from_url(stack.redis_url, decode_responses=True)
        try:
            counter = AdmissionCounter(client)
            calls = [asyncio.ensure_future(counter.count(known)) for _ in range(6)]
            await asyncio.sleep(0)  # every request is queued; none has been sent
            calls[cancelled].cancel()
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await client.aclose()

    replies = asyncio.run(scenario())
    assert isinstance(replies.pop(cancelled), asyncio.CancelledError)
    # The others have their own answers (the cancelled one was already in the call: it counted).
    assert [reply[4] for reply in replies] == [n for n in range(1, 7) if n != cancelled + 1]  # type: ignore[index]
