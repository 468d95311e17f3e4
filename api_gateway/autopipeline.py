"""Redis commands of concurrent requests, sent together.

Under load, the requests one process is serving reach their auth call in the same event-loop
turn, and each call alone paid a pool checkout, a socket write and a read: most of a request's
Redis cost. Queued until the end of the turn and sent as one pipeline, they share all three
(bench/README.md, "Where the time goes"). A lone command goes straight through.
"""

import asyncio
from typing import Any

import redis.asyncio

from shared.redis_client import get_async_redis

_Pending = list[tuple[tuple[Any, ...], "asyncio.Future[Any]"]]


class AutoPipeline:
    """One per event loop; `execute` is `client.execute_command` with batching."""

    def __init__(self, client: "redis.asyncio.Redis") -> None:
        self._client = client
        self._pending: _Pending = []
        self._sending: set[asyncio.Task[None]] = set()  # strong references until done

    async def execute(self, *args: Any) -> Any:
        """The command's reply; a Redis error reply or a connection failure is raised here."""
        future = asyncio.get_running_loop().create_future()
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append((args, future))
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: _Pending) -> None:
        try:
            if len(batch) == 1:
                replies = [await self._client.execute_command(*batch[0][0])]
            else:
                pipe = self._client.pipeline(transaction=False)
                for args, _ in batch:
                    pipe.execute_command(*args)
                replies = await pipe.execute(raise_on_error=False)
        except redis.RedisError as error:  # one failure (connection, timeout) for the batch
            replies = [error] * len(batch)
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its request was cancelled meanwhile
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)


_pipelines: dict[int, AutoPipeline] = {}


def get_auto_pipeline() -> AutoPipeline:
    """The running loop's batcher over its own client (see shared.redis_client)."""
    loop_id = id(asyncio.get_running_loop())
    pipeline = _pipelines.get(loop_id)
    if pipeline is None:
        pipeline = _pipelines[loop_id] = AutoPipeline(get_async_redis())
    return pipeline
