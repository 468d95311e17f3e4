"""GET /api/video-status/{uuid}."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import bindparam, select
from starlette.types import ASGIApp, Receive, Scope, Send

from api_gateway.db_threads import in_db_thread
from api_gateway.envelope import error_response, ok
from api_gateway.ratelimit import admit
from api_gateway.schemas import Envelope, VideoStatusData, storable
from shared import status_cache
from shared.db import read_connection
from shared.errors import ApiError, NotFound, invalid
from shared.job_view import STATUS_FIELDS, status_data
from shared.models import JOBS

router = APIRouter(tags=["videos"])
_jobs = JOBS
# Built once: building a statement per request cost as much as running it.
_SELECT_OWN_JOB = select(*(_jobs.c[name] for name in STATUS_FIELDS)).where(
    _jobs.c.id == bindparam("job"), _jobs.c.account_id == bindparam("account")
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


async def answer(request: Request, uuid: str) -> JSONResponse:
    """The whole endpoint, behind both of its doors (the route and StatusFastPath)."""
    try:
        storable(uuid)
    except ValueError as error:
        raise invalid("uuid", str(error)) from None
    valid = len(uuid) <= 36
    admission = await admit(request, fetch=status_cache.entry_key(uuid) if valid else None)
    account_id = admission.caller.account_id
    if admission.fetched is not None:  # the polled endpoint's usual case: no database at all
        job = status_cache.decode(admission.fetched)
        if job.account_id == account_id:
            return ok(status_data(None, job))
    # Another account's job answers exactly like an unknown one: ids cannot be probed.
    if not valid or admission.fetched is not None:
        raise NotFound("Video not found")
    return ok(await in_db_thread(_load, uuid, account_id))


@router.get("/video-status/{uuid}", response_model=Envelope[VideoStatusData])
async def video_status(uuid: str, request: Request) -> JSONResponse:
    """Where a job is: status, progress, estimated seconds left, and the video URL when done."""
    return await answer(request, uuid)


# GET requests are served by StatusFastPath (below) and HEAD requests by the route.
router.add_api_route(
    "/video-status/{uuid}", video_status, methods=["HEAD"], include_in_schema=False
)


PATH_PREFIX = "/api/video-status/"


class StatusFastPath:
    """Serves `GET /api/video-status/{uuid}`, the endpoint clients poll, past the router and the
    dependency machinery, which took a third of its CPU (bench/RESULTS.md). Same
    function, same answers as the route: an error becomes its envelope as the exception
    handlers render it. Installed innermost, so the other middleware still wrap it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"].removeprefix(scope.get("root_path", ""))
            uuid = path[len(PATH_PREFIX) :]
            if path.startswith(PATH_PREFIX) and uuid and "/" not in uuid:
                try:
                    response = await answer(Request(scope, receive), uuid)
                except ApiError as error:
                    response = error_response(error)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
