"""Where a job is, for its owner: the work of GET /api/video-status/{uuid}, behind both of its
doors (the route in routes/status.py and StatusFastPath in api_gateway/asgi.py)."""

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import bindparam, select

from api_gateway.db_threads import in_db_thread
from api_gateway.deps import admit
from api_gateway.errors import ok
from api_gateway.schemas import lowercase_id, storable
from shared import status_cache
from shared.db import read_connection
from shared.errors import NotFound, invalid
from shared.job_view import STATUS_FIELDS, status_data
from shared.models import JOBS

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
    id, answers from the Redis mirror read in that same round trip, else from the database."""
    uuid = lowercase_id(uuid)
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
        return ok(status_data(None, job))
    # Another account's job, or a deleted one, answers exactly like an unknown one: ids
    # cannot be probed.
    if not valid or job is not None or (fetched is not None and status_cache.is_deleted(fetched)):
        raise NotFound("Video not found")
    return ok(await in_db_thread(_load, uuid, account_id))
