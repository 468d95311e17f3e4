"""The dispatcher hears of new jobs from the gateway, off the request path.

A request answers once its job row is committed; the job's id joins a queue that one task per
process drains, sending one request to the dispatcher (shared.queueing.enqueue_dispatch) for
everything that waited. The dispatcher admits waiting jobs in fair order as the upstream quota
allows (worker/tasks/dispatch.py), so a new job reaches a free token at once instead of at the
next tick, and a job the quota cannot take yet costs no message at all: it waits as a row.
Rule 2 holds, since only committed jobs are announced; a request lost (Redis away, a process
killed before it left) costs only latency, as beat's tick admits the jobs anyway.
"""

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress

from anyio import to_thread

from shared.queueing import enqueue_dispatch

log = logging.getLogger(__name__)
BATCH_MAX = 64


class SubmitPublisher:
    def __init__(self, send: Callable[[list[str]], object] | None = None) -> None:
        # Blocking; runs in a worker thread, once for each batch of newly committed jobs.
        self._send = send or _announce
        self._waiting: list[str] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="submit-publisher")

    def add(self, job_id: str) -> None:
        """Announce a committed job to the dispatcher (with the others waiting now)."""
        self._waiting.append(job_id)
        self._ready.set()

    async def stop(self) -> None:
        """Stop the loop, then send what is still waiting (one try: a dead Redis fails fast)."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        await self._send_waiting()

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            try:
                await self._send_waiting()
            except Exception:  # never let one bad batch stop every later publish
                log.exception("submit publisher: a batch failed; the dispatch tick admits its jobs")

    async def _send_waiting(self) -> None:
        while self._waiting:
            batch = self._waiting[:BATCH_MAX]
            del self._waiting[:BATCH_MAX]
            await to_thread.run_sync(self._send, batch)


def _announce(_job_ids: list[str]) -> None:
    enqueue_dispatch()
