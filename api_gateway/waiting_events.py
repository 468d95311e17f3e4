"""The event stream of one job (GET /api/videos/{uuid}/events): Server-Sent Events of each
change of its status answer, ending with the terminal one.

Each event is `id: <n>`, `event: status`, `data: <status answer JSON>`. The id is the job's
stage and progress, `1000 * stage + progress` (stage 0 pending, 1 processing, 2 terminal), so
ids only grow along one job's life and any gateway process can resume a stream from the client's
`Last-Event-ID` without keeping anything: the current answer is sent if its id is greater. A
client that already has the terminal event is answered 204 (EventSource then stops
reconnecting). Changes come from the job's pub/sub channel (api_gateway/waiting_hub.py); the
upstream reports no progress, so a processing job's estimate is recomputed every
`events_progress_interval_s` and sent when it grew. A `: ping` comment goes out every
`events_heartbeat_s`, so proxies keep a quiet stream open.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from api_gateway.waiting import Current, StatusData, is_terminal, rendered
from api_gateway.waiting_hub import FAILED, RESYNC, Listener, Unavailable, get_hub
from shared.errors import ApiError
from shared.job_view import StatusRow
from shared.settings import get_settings

log = logging.getLogger(__name__)

PING = b": ping\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event_id(data: StatusData) -> int:
    """Where the job stands, as a number that only grows (see the module's docstring)."""
    stage = 2 if is_terminal(data) else 1 if data["status"] == "processing" else 0
    return stage * 1000 + int(data.get("progress") or 0)


def last_event_id(header: str | None) -> int:
    """The client's Last-Event-ID, or -1 (send everything) when absent or not ours."""
    value = (header or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else -1


def render(data: StatusData) -> bytes:
    body = json.dumps(data, separators=(",", ":"))
    return f"id: {event_id(data)}\nevent: status\ndata: {body}\n\n".encode()


@dataclass
class _Clock:
    """When the next heartbeat and the next progress estimate are due (loop time)."""

    heartbeat_at: float
    progress_at: float

    def timeout(self, now: float, processing: bool) -> float:
        due = min(self.heartbeat_at, self.progress_at) if processing else self.heartbeat_at
        return due - now


async def stream(job_id: str, current: Current, after: int) -> AsyncIterator[bytes]:
    """The events of `job_id` whose ids are greater than `after`, until the terminal one."""
    try:
        async with get_hub().listening(job_id) as listener:
            async for chunk in _events(listener, current, after):
                yield chunk
    except Unavailable as error:  # nothing to listen on: the state as it is, then the end
        log.warning("Cannot stream job %s (%s)", job_id, error)
        data = await current()
        if event_id(data) > after:
            yield render(data)
    except ApiError as error:  # the job went away (deleted) while streaming
        log.info("Stream of job %s ended: %s", job_id, error.msg)


async def _events(listener: Listener, current: Current, sent: int) -> AsyncIterator[bytes]:
    settings = get_settings()
    loop = asyncio.get_running_loop()
    now = loop.time()
    clock = _Clock(now + settings.events_heartbeat_s, now + settings.events_progress_interval_s)
    data = await current()
    row: StatusRow | None = None
    while True:
        if event_id(data) > sent:
            sent = event_id(data)
            yield render(data)
        if is_terminal(data):
            return
        processing = data["status"] == "processing"
        event = await listener.next(clock.timeout(loop.time(), processing))
        if event == FAILED:
            return  # the client reconnects with its Last-Event-ID
        if isinstance(event, StatusRow):
            row = event
        if event is None:
            now = loop.time()
            if now >= clock.heartbeat_at:
                clock.heartbeat_at = now + settings.events_heartbeat_s
                yield PING
            if not processing or now < clock.progress_at:
                continue
            clock.progress_at = now + settings.events_progress_interval_s
        data = await rendered(row if event != RESYNC else None, current)
