"""Live status for the videos page: one server-sent event stream for all of a page's unfinished
videos (a browser holds six connections per host; one stream per video would starve the
page), in the API's event format: `event: status`, the status answer as data. It ends once
every video in it is terminal, and sends a `: ping` comment while nothing changes.

The stream listens on each video's channel of the gateway's job event hub
(api_gateway/waiting_hub.py) and reads the videos again when one of them changes, and every
`events_progress_interval_s` besides (queue positions and estimates move without an event of
the video's own). Without the hub (Redis unreachable) it reads them every `CHECK_S`."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from sqlalchemy import select

from api_gateway.db_threads import in_db_thread
from api_gateway.waiting_hub import FAILED, Listener, Unavailable, get_hub
from shared.db import read_connection
from shared.dispatch_order import queue_positions
from shared.job_view import STATUS_FIELDS, status_data
from shared.models import JOBS
from shared.settings import get_settings
from shared.states import JobStatus

log = logging.getLogger(__name__)

TERMINAL = frozenset({"completed", "failed", "cancelled"})
CHECK_S = 1.0  # how often the stream re-reads moving videos when it cannot listen


def statuses(account_id: str, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The status answers of those of `job_ids` the account owns (and has not deleted)."""
    query = select(*(JOBS.c[name] for name in STATUS_FIELDS)).where(
        JOBS.c.account_id == account_id, JOBS.c.id.in_(job_ids), JOBS.c.deleted_at.is_(None)
    )
    with read_connection() as connection:
        rows = connection.execute(query).all()
        waiting = [row for row in rows if row.status == JobStatus.PENDING.value]
        positions = queue_positions(connection, waiting)
        return {
            row.id: status_data(connection, row, queue_position=positions.get(row.id))
            for row in rows
        }


def _event(number: int, data: dict[str, Any]) -> bytes:
    return f"id: {number}\nevent: status\ndata: {json.dumps(data)}\n\n".encode()


async def status_events(account_id: str, job_ids: list[str]) -> AsyncIterator[bytes]:
    async with AsyncExitStack() as stack:
        listener = await _listen(stack, job_ids)
        async for chunk in _changes(account_id, job_ids, listener):
            yield chunk


async def _listen(stack: AsyncExitStack, job_ids: list[str]) -> Listener | None:
    """One listener on every video's channel, confirmed before the first read (so no change
    falls between); None when the hub cannot listen."""
    try:
        return await stack.enter_async_context(get_hub().listening(*job_ids))
    except Unavailable as error:
        log.warning("Dashboard stream reads every %.0f s: %s", CHECK_S, error)
        return None


async def _changes(
    account_id: str, job_ids: list[str], listener: Listener | None
) -> AsyncIterator[bytes]:
    settings = get_settings()
    loop = asyncio.get_running_loop()
    last: dict[str, dict[str, Any]] = {}
    number, quiet_s = 0, 0.0
    while True:
        found = await in_db_thread(statuses, account_id, job_ids)
        changed = [data for job_id, data in found.items() if last.get(job_id) != data]
        for data in changed:
            number += 1
            yield _event(number, data)
        last.update(found)
        if all(data["status"] in TERMINAL for data in found.values()):
            return
        if changed:
            quiet_s = 0.0
        if quiet_s >= settings.events_heartbeat_s:
            yield b": ping\n\n"
            quiet_s = 0.0
        started = loop.time()
        if listener is None:
            await asyncio.sleep(CHECK_S)
        elif await listener.next(settings.events_progress_interval_s) == FAILED:
            listener = None  # the hub lost Redis: read on a clock from now on
        quiet_s += loop.time() - started
