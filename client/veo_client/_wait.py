"""The clock of one `wait()`: when to give up, how long one read or one poll may take."""

import math
import time

import httpx

from veo_client.errors import WaitTimeout
from veo_client.models import Video

# Longer than the API's heartbeat interval: a stream silent for this long is dead, reconnect.
STREAM_SILENCE_S = 60.0


class Deadline:
    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._end = None if timeout is None else time.monotonic() + timeout

    def remaining(self) -> float | None:
        return None if self._end is None else max(0.0, self._end - time.monotonic())

    def check(self, last: Video | None) -> None:
        """Raise WaitTimeout once the time is up; `last` is the latest status seen."""
        if self._end is not None and time.monotonic() >= self._end:
            state = f" (last seen: {last.status})" if last is not None else ""
            raise WaitTimeout(f"still running after {self.timeout:g} s{state}", last=last)

    def read_timeout(self, connect: float) -> httpx.Timeout:
        left = self.remaining()
        read = STREAM_SILENCE_S if left is None else min(STREAM_SILENCE_S, left + 0.5)
        return httpx.Timeout(connect, read=read)

    def prefer_wait(self, interval: float) -> int:
        """Seconds to ask the gateway to hold one status answer: at most one poll interval, so
        progress still shows, and never past the deadline."""
        left = self.remaining()
        hold = interval if left is None else min(interval, left)
        return max(1, math.ceil(hold))

    def sleep_for(self, interval: float) -> float:
        left = self.remaining()
        return interval if left is None else min(interval, left)


def events_unusable(response: httpx.Response) -> bool:
    """An answer that is no event stream (an older gateway's 404, an error envelope): the
    caller polls instead, and polling reports a real error such as an unknown uuid."""
    content_type = response.headers.get("content-type", "")
    return response.status_code != 200 or not content_type.startswith("text/event-stream")
