"""Live status for the videos page: one server-sent event stream for all of a page's unfinished
videos (a browser holds six connections per host; one stream per video would starve the
page), in the API's event format: `event: status`, the status answer as data. It ends once
every video in it is terminal, and sends a `: ping` comment while nothing changes."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select

from api_gateway.db_threads import in_db_thread
from shared.db import read_connection
from shared.dispatch_order import queue_positions
from shared.job_view import STATUS_FIELDS, status_data
from shared.models import JOBS
from shared.states import JobStatus

TERMINAL = frozenset({"completed", "failed", "cancelled"})
CHECK_S = 1.0  # how often the stream re-reads videos that are still moving
PING_S = 15.0  # a comment this often keeps proxies from closing a quiet stream


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
        quiet_s = 0.0 if changed else quiet_s + CHECK_S
        if quiet_s >= PING_S:
            yield b": ping\n\n"
            quiet_s = 0.0
        await asyncio.sleep(CHECK_S)
