"""The authentication and rate-limit counts of concurrent requests, as one Redis script call
per event-loop turn.

Pipelined, each request still paid its own command's packing, its reply's parsing under its
own read timeout and its own script run: a tenth of a submit's CPU. One call carrying every
request's keys pays them once (shared.key_cache.AUTH_AND_COUNT).
"""

import asyncio
from collections.abc import Sequence

import redis.asyncio

from api_gateway.batching.turn import TurnBatcher
from shared import key_cache
from shared.redis_client import get_async_redis
from shared.settings import get_settings

# A request: its API key's hash, the Redis key to read on the way (or None), the client
# address its refusals count against ('': none), and its budget (key_cache.WRITE or READ).
Ask = tuple[str, str | None, str, str]


class AdmissionCounter:
    """One per event loop; `count` is one request's answer from the batch script."""

    def __init__(self, client: "redis.asyncio.Redis") -> None:
        self._client = client
        self._batcher: TurnBatcher[Ask, list[object]] = TurnBatcher(self._send)

    async def count(
        self,
        key_hash: str,
        fetch: str | None = None,
        client: str | None = None,
        budget: str = key_cache.WRITE,
    ) -> list[object]:
        """{'miss'} | {'revoked'} | {'unknown'} | {'blocked', reset s} | {'ok', key id, account
        id, limit, count, reset s, fetched}; see shared.key_cache.AUTH_AND_COUNT. A connection
        failure or an error reply is raised to every request of the call."""
        return await self._batcher((key_hash, fetch, client or "", budget))

    async def _send(self, asks: list[Ask]) -> Sequence[list[object]]:
        settings = get_settings()
        keys: list[str] = []
        owned: list[str | int] = []
        for key_hash, fetch, client, budget in asks:
            keys.append(key_cache.cache_key(key_hash))
            if fetch:
                keys.append(fetch)
            owned += [2 if fetch else 1, client, budget]
        args: list[str | int] = [
            *keys,
            key_cache.rate_limit_prefix(),
            key_cache.RATE_WINDOW_S,
            settings.default_rate_limit_per_minute,
            key_cache.auth_failures_prefix(),
            settings.auth_failures_per_minute,
            settings.default_read_rate_limit_per_minute,
            *owned,
        ]
        answers: Sequence[list[object]]  # the script's reply: one list per request
        try:
            answers = await self._client.evalsha(key_cache.AUTH_AND_COUNT_SHA1, len(keys), *args)
        except redis.exceptions.NoScriptError:  # Redis lost its script cache: send the body
            answers = await self._client.eval(key_cache.AUTH_AND_COUNT, len(keys), *args)
        return answers


_counters: dict[int, AdmissionCounter] = {}


def get_admission_counter() -> AdmissionCounter:
    """The running loop's counter over its own client (see shared.redis_client)."""
    loop_id = id(asyncio.get_running_loop())
    counter = _counters.get(loop_id)
    if counter is None:
        counter = _counters[loop_id] = AdmissionCounter(get_async_redis())
    return counter
