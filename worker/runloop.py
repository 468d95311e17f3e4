"""One asyncio loop per worker process, so the httpx pool survives from task to task.

Celery's prefork children run tasks synchronously; a fresh `asyncio.run()` per task would
close the loop and with it every pooled upstream connection.
"""

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None


def run(coro: Coroutine[Any, Any, T]) -> T:
    global _loop  # noqa: PLW0603 - one loop per process is the point
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coro)


def close() -> None:
    """Close the process's loop (at process shutdown, after the adapters closed their clients)."""
    global _loop  # noqa: PLW0603
    if _loop is not None and not _loop.is_closed():
        _loop.run_until_complete(_loop.shutdown_asyncgens())
        _loop.close()
    _loop = None
