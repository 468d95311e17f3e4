"""Calls that concurrent requests make in one event-loop turn, handled as one batch.

Under load, the requests one process serves reach the same step (the auth call to Redis, the
paid insert) in the same turn. Each alone paid a round trip and its fixed costs; queued until
the end of the turn, they share them (bench/RESULTS.md, "Where the time goes").
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Reply = TypeVar("Reply")
# One reply per item, in order; an exception stands for that item's own failure.
BatchHandler = Callable[[list[Item]], Awaitable[Sequence[Reply | Exception]]]


class TurnBatcher(Generic[Item, Reply]):
    """`await batcher(item)` is `handler([item])[0]`, raised if it is an exception, with the
    items of one turn handed over together. With `max_in_flight`, items wait while that many
    batches run and then go together (a group commit); a handler's own failure fails its batch.
    """

    def __init__(
        self,
        handler: BatchHandler[Item, Reply],
        *,
        max_in_flight: int | None = None,
        max_batch: int = 256,
    ) -> None:
        self._handler = handler
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Reply]]] = []
        self._flush_scheduled = False
        self._running: set[asyncio.Task[None]] = set()  # strong references until done

    async def __call__(self, item: Item) -> Reply:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if self._flush_scheduled or not self._pending:
            return
        if self._max_in_flight is not None and len(self._running) >= self._max_in_flight:
            return  # the batch that finishes next schedules the flush
        self._flush_scheduled = True
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
        task = asyncio.ensure_future(self._run(batch))
        self._running.add(task)
        task.add_done_callback(self._finished)
        self._schedule()  # more than max_batch were waiting

    def _finished(self, task: "asyncio.Task[None]") -> None:
        self._running.discard(task)
        self._schedule()

    async def _run(self, batch: list[tuple[Item, "asyncio.Future[Reply]"]]) -> None:
        try:
            replies: Sequence[Reply | Exception] = await self._handler([item for item, _ in batch])
        except Exception as error:
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
