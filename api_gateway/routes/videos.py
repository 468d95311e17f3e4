"""The caller's own videos: list them, cancel one, delete one. Another account's uuid, and a
deleted video's, answer exactly like an unknown one."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import and_, or_, select

from api_gateway.cursors import CURSOR_MAX_CHARS, bad_cursor, decode_cursor, encode_cursor
from api_gateway.db_threads import in_db_thread
from api_gateway.deps import LimitedCaller
from api_gateway.errors import ok
from api_gateway.routing import AuthenticatedRoute
from api_gateway.schemas import (
    DeletedVideoData,
    Envelope,
    PublicStatus,
    VideoPage,
    VideoStatusData,
    lowercase_id,
    storable,
)
from shared.cancellation import cancel_job
from shared.db import read_connection
from shared.dispatch_order import queue_positions
from shared.erasure import delete_job
from shared.errors import NotFound, invalid
from shared.job_view import STATUS_FIELDS, status_data
from shared.models import JOBS
from shared.states import PUBLIC_STATUS, JobStatus

router = APIRouter(prefix="/videos", tags=["videos"], route_class=AuthenticatedRoute)
PAGE_DEFAULT, PAGE_MAX = 20, 100
_jobs = JOBS
# The stored statuses behind each public one (`pending` is three of them).
SHOWN_AS: dict[str, list[str]] = {
    shown: [stored.value for stored, public in PUBLIC_STATUS.items() if public == shown]
    for shown in set(PUBLIC_STATUS.values())
}


def _job_id(uuid: str) -> str:
    """The id as stored (lowercase), or the answer a status request would give."""
    uuid = lowercase_id(uuid)
    try:
        storable(uuid)
    except ValueError as error:
        raise invalid("uuid", str(error)) from None
    if len(uuid) > 36:
        raise NotFound("Video not found")
    return uuid


def _utc(moment: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC, as every time this API writes is."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _after_cursor(cursor: str) -> Any:
    """The jobs older than the last one a page showed (newest first: creation time, then id)."""
    position = decode_cursor(cursor, t=str, i=str)
    try:
        created = _utc(datetime.fromisoformat(position["t"]))
    except ValueError:
        raise bad_cursor() from None
    return or_(
        _jobs.c.created_at < created,
        and_(_jobs.c.created_at == created, _jobs.c.id < position["i"]),
    )


def _list(account_id: str, limit: int, filters: list[Any]) -> dict[str, Any]:
    query = (
        select(*(_jobs.c[name] for name in STATUS_FIELDS))
        .where(_jobs.c.account_id == account_id, _jobs.c.deleted_at.is_(None), *filters)
        .order_by(_jobs.c.created_at.desc(), _jobs.c.id.desc())
        .limit(limit + 1)
    )
    with read_connection() as connection:
        rows = connection.execute(query).all()
        more, rows = len(rows) > limit, rows[:limit]
        waiting = [row for row in rows if row.status == JobStatus.PENDING.value]
        positions = queue_positions(connection, waiting)
        items = [status_data(connection, row, queue_position=positions.get(row.id)) for row in rows]
    last = rows[-1] if more else None
    return {
        "items": items,
        "nextCursor": encode_cursor({"t": last.created_at.isoformat(), "i": last.id})
        if last is not None
        else None,
    }


@router.get("", response_model=Envelope[VideoPage])
async def list_videos(
    caller: LimitedCaller,
    *,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE_DEFAULT,
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX_CHARS)] = None,
    status: PublicStatus | None = None,
    createdAfter: datetime | None = None,  # noqa: N803 - the API's camelCase
    createdBefore: datetime | None = None,  # noqa: N803
) -> JSONResponse:
    """The account's videos, newest first, each as its status answer; `createdAfter` is
    inclusive, `createdBefore` exclusive (ISO-8601; a time without a zone is UTC)."""
    filters: list[Any] = []
    if status is not None:
        filters.append(_jobs.c.status.in_(SHOWN_AS[status]))
    if createdAfter is not None:
        filters.append(_jobs.c.created_at >= _utc(createdAfter))
    if createdBefore is not None:
        filters.append(_jobs.c.created_at < _utc(createdBefore))
    if cursor is not None:
        filters.append(_after_cursor(cursor))
    return ok(await in_db_thread(_list, caller.account_id, limit, filters))


@router.post("/{uuid}/cancel", response_model=Envelope[VideoStatusData])
async def cancel_video(uuid: str, caller: LimitedCaller) -> JSONResponse:
    """Cancel a pending or processing video. A pending one is refunded; a processing one is
    not (the upstream is already generating it), and its result is discarded. A finished
    video answers 1000."""
    return ok(await in_db_thread(cancel_job, caller.account_id, _job_id(uuid)))


@router.delete("/{uuid}", response_model=Envelope[DeletedVideoData])
async def delete_video(uuid: str, caller: LimitedCaller) -> JSONResponse:
    """Delete a finished video: its stored files, its prompt and its webhook deliveries go, its
    ledger rows stay; from then on its uuid answers like an unknown one. A video still pending
    or processing answers 1000: cancel it first."""
    job_id = _job_id(uuid)
    await in_db_thread(delete_job, caller.account_id, job_id)
    return ok({"uuid": job_id, "deleted": True})
