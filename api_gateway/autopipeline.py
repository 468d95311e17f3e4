"""Redis commands of concurrent requests, sent as one pipeline per event-loop turn.

Each command alone paid a pool checkout, a socket write and a read: most of a request's Redis
cost. A lone command goes straight through.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio

from api_gateway.batching import TurnBatcher
from shared.redis_client import get_async_redis

Command = tuple[Any, ...]


class AutoPipeline:
    """One per event loop; `execute` is `client.execute_command` with batching."""

    def __init__(self, client: "redis.asyncio.Redis") -> None:
        self._client = client
        self._batcher: TurnBatcher[Command, Any] = TurnBatcher(self._send)

    async def execute(self, *args: Any) -> Any:
        """The command's reply; a Redis error reply or a connection failure is raised here."""
        return await self._batcher(args)

    async def _send(self, commands: list[Command]) -> Sequence[Any]:
        if len(commands) == 1:
            return [await self._client.execute_command(*commands[0])]
        pipe = self._client.pipeline(transaction=False)
        for args in commands:
            pipe.execute_command(*args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies


_pipelines: dict[int, AutoPipeline] = {}


def get_auto_pipeline() -> AutoPipeline:
    """The running loop's batcher over its own client (see shared.redis_client)."""
    loop_id = id(asyncio.get_running_loop())
    pipeline = _pipelines.get(loop_id)
    if pipeline is None:
        pipeline = _pipelines[loop_id] = AutoPipeline(get_async_redis())
    return pipeline
