"""`Prefer: wait=N` (RFC 7240) on submit and status: the answer comes when the job is terminal
or after N seconds, whichever is first, as the status answer at that moment.

The wait is a Listener on the process's one pub/sub connection (api_gateway/waiting_hub.py):
it holds no worker, thread or database connection, and the request was admitted (and counted
against the rate limit) once, before it. It subscribes first and reads the job's state second,
so a change published in between is never missed. Without Redis there is nothing to wait on:
the answer is then the current state at once.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from api_gateway.waiting_hub import FAILED, Unavailable, get_hub
from shared.job_events import TERMINAL_PUBLIC
from shared.job_view import StatusRow, status_data
from shared.settings import get_settings

log = logging.getLogger(__name__)

StatusData = dict[str, Any]
Current = Callable[[], Awaitable[StatusData]]
PREFER = b"prefer"
WAIT_DOC = (
    "`wait=N` (RFC 7240, N ≤ 60): answer once the job is terminal or N seconds passed, "
    "whichever is first; the answer says `Preference-Applied: wait=N`"
)


def requested_wait(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The wait a request asks for (raw ASGI headers), cut to `wait_max_s`; None: no wait."""
    seconds = preferred_wait(headers)
    return None if seconds is None else min(seconds, get_settings().wait_max_s)


def preferred_wait(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """N of the first `wait` preference in the Prefer headers; None without one. A malformed
    `wait` is ignored, as RFC 7240 asks, and so is any later `wait` (only the first instance
    of a preference counts)."""
    for name, value in headers:
        if name != PREFER:
            continue
        for preference in value.decode("latin-1").split(","):
            token, has_value, raw = preference.split(";", 1)[0].partition("=")
            if token.strip().lower() != "wait":
                continue
            seconds = raw.strip().strip('"')
            if not has_value or not (seconds.isascii() and seconds.isdigit()):
                return None
            return int(seconds)
    return None


def applied(seconds: int) -> dict[str, str]:
    """The response header saying the preference was honoured."""
    return {"Preference-Applied": f"wait={seconds}"}


def is_terminal(data: StatusData) -> bool:
    return data["status"] in TERMINAL_PUBLIC


async def wait_for_terminal(job_id: str, seconds: float, current: Current) -> StatusData:
    """The status answer of `job_id` (whose owner `current` has checked) once it is terminal, or
    as it is after `seconds`. `current()` reads it (Redis mirror, else the database)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        async with get_hub().listening(job_id) as listener:
            data = await current()
            while not is_terminal(data):
                event = await listener.next(deadline - loop.time())
                if event is None or event == FAILED:
                    break
                data = await rendered(event if isinstance(event, StatusRow) else None, current)
    except Unavailable as error:
        log.warning("Cannot wait on job %s (%s): answering its current status", job_id, error)
        return await current()
    return data if is_terminal(data) else await current()


async def rendered(row: StatusRow | None, current: Current) -> StatusData:
    """The status answer from a published row (no I/O: it is past pending), else as read now."""
    if row is not None:
        try:
            return status_data(None, row)
        except ValueError:  # a state that needs the database after all
            pass
    return await current()
