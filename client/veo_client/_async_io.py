"""What differs between the async client and the sync one beyond `async`/`await`: how to pause
and how to call the caller's update callback. client.py imports _sync_io in its place."""

import asyncio
from collections.abc import Awaitable, Callable

from veo_client.models import Video

sleep = asyncio.sleep  # one name for tests to replace
OnUpdate = Callable[[Video], Awaitable[None] | None]


async def notify(on_update: OnUpdate, video: Video) -> None:
    """Call a plain or an async callback."""
    result = on_update(video)
    if result is not None:
        await result
