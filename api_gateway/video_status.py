"""Where a job is, for its owner: the work of GET /api/video-status/{uuid}, behind both of its
doors (the route in routes/status.py and StatusFastPath in api_gateway/asgi.py)."""

from functools import partial
from typing import Any

import redis
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import bindparam, select

from api_gateway.db_threads import in_db_thread
from api_gateway.deps import admit
from api_gateway.errors import ok
from api_gateway.schemas import lowercase_id, storable
from api_gateway.waiting import applied, is_terminal, requested_wait, wait_for_terminal
from shared import status_cache
from shared.db import read_connection
from shared.errors import NotFound, invalid
from shared.job_view import STATUS_FIELDS, status_data
from shared.models import JOBS
from shared.redis_client import get_async_redis

_jobs = JOBS
# Built once: building a statement per request cost as much as running it.
_SELECT_OWN_JOB = select(*(_jobs.c[name] for name in STATUS_FIELDS)).where(
    _jobs.c.id == bindparam("job"),
    _jobs.c.account_id == bindparam("account"),
    _jobs.c.deleted_at.is_(None),  # a deleted job answers like an unknown one
)


def _load(job_id: str, account_id: str) -> dict[str, Any]:
    """One Core query (no ORM session), and the answer mirrored for the next poll."""
    with read_connection() as connection:
        job = connection.execute(_SELECT_OWN_JOB, {"job": job_id, "account": account_id}).first()
        if job is None:
            raise NotFound("Video not found")
        data = status_data(connection, job)
    status_cache.store([job])
    return data


def _unstorable(value: str) -> str | None:
    """Why a database could not even be asked for this id, if it could not."""
    try:
        storable(value)
    except ValueError as error:
        return str(error)
    return None


async def answer(request: Request, uuid: str) -> JSONResponse:
    """The whole endpoint: admits the caller (before anything about the id is said), checks the
    id, answers from the Redis mirror read in that same round trip, else from the database;
    with `Prefer: wait=N`, once the job is terminal or N seconds have passed
    (api_gateway/waiting.py)."""
    uuid = lowercase_id(uuid)
    wait_s = requested_wait(request.scope["headers"])
    account_id, data = await owned_answer(request, uuid)
    if wait_s is None:
        return ok(data)
    if wait_s > 0 and not is_terminal(data):
        data = await wait_for_terminal(uuid, wait_s, partial(current, uuid, account_id))
    return ok(data, headers=applied(wait_s))


async def owned_answer(request: Request, uuid: str) -> tuple[str, dict[str, Any]]:
    """The caller's account and the status answer of its job `uuid` (lowercased), once the
    caller is admitted; NotFound for an unknown id and for another account's."""
    problem = _unstorable(uuid)
    valid = problem is None and len(uuid) <= 36
    admission = await admit(request, fetch=status_cache.entry_key(uuid) if valid else None)
    if problem is not None:
        raise invalid("uuid", problem)
    account_id = admission.caller.account_id
    fetched = admission.fetched
    # The polled endpoint's usual case: no database at all.
    job = status_cache.decode(fetched) if fetched is not None else None
    if job is not None and job.account_id == account_id:
        return account_id, status_data(None, job)
    # Another account's job, or a deleted one, answers exactly like an unknown one: ids
    # cannot be probed.
    if not valid or job is not None or (fetched is not None and status_cache.is_deleted(fetched)):
        raise NotFound("Video not found")
    return account_id, await in_db_thread(_load, uuid, account_id)


async def current(uuid: str, account_id: str) -> dict[str, Any]:
    """The status answer of the caller's own job as it is now (the caller was admitted and the
    id checked): from the Redis mirror, else the database."""
    try:
        entry = await get_async_redis().get(status_cache.entry_key(uuid))
    except redis.RedisError:
        entry = None
    if entry is not None:
        job = status_cache.decode(str(entry))
        if (job is not None and job.account_id != account_id) or status_cache.is_deleted(
            str(entry)
        ):
            raise NotFound("Video not found")
        if job is not None:
            return status_data(None, job)
    return await in_db_thread(_load, uuid, account_id)
