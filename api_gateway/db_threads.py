"""Blocking database work off the event loop, never more at once than the pool has connections.

Starlette's default threadpool (40 threads) against a pool of db_pool_size connections made the
surplus threads open and close overflow connections on every request under load; waiting for
a token here is cheaper than a new PostgreSQL connection.
"""

from collections.abc import Callable
from functools import cache
from typing import TypeVar, TypeVarTuple

import anyio
from anyio.to_thread import run_sync

from shared.settings import get_settings


@cache
def _limiter() -> anyio.CapacityLimiter:
    return anyio.CapacityLimiter(get_settings().db_pool_size)


T = TypeVar("T")
Args = TypeVarTuple("Args")


async def in_db_thread(function: Callable[[*Args], T], *args: *Args) -> T:
    return await run_sync(function, *args, limiter=_limiter())
