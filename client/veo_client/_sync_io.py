"""The sync client's pause and update callback (_async_io.py is the async client's)."""

import time
from collections.abc import Callable

from veo_client.models import Video

sleep = time.sleep  # one name for tests to replace
OnUpdate = Callable[[Video], None]


def notify(on_update: OnUpdate, video: Video) -> None:
    on_update(video)
