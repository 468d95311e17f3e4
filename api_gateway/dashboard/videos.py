"""The videos page (list, live status, cancel, delete) and the generate form, through the same
functions as GET /api/videos, POST /api/videos/{uuid}/cancel, DELETE /api/videos/{uuid},
POST /api/upload-video-image and POST /api/generate-video."""

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy import select

from api_gateway import errors
from api_gateway.dashboard import live, sessions
from api_gateway.dashboard.form_fields import form_fields, price_credits, request_body
from api_gateway.dashboard.web import SignedIn, checked_form, redirect, render, secured
from api_gateway.db_threads import in_db_thread
from api_gateway.deps import submit_pipeline
from api_gateway.routes.videos import PAGE_DEFAULT, PAGE_MAX, _after_cursor, _job_id, _list
from api_gateway.schemas import GenerateVideoRequest
from api_gateway.submission import create_video
from shared.cancellation import cancel_job
from shared.db import read_connection
from shared.erasure import delete_job
from shared.errors import ApiError, NotFound, invalid
from shared.models import LEDGER
from shared.settings import get_settings

router = APIRouter()


def _refunds(job_ids: list[str]) -> dict[str, int]:
    if not job_ids:
        return {}
    with read_connection() as connection:
        rows = connection.execute(
            select(LEDGER.c.job_id, LEDGER.c.amount).where(
                LEDGER.c.job_id.in_(job_ids), LEDGER.c.kind == "refund"
            )
        ).all()
    return {row.job_id: int(row.amount) for row in rows}


def _page(account_id: str, cursor: str | None) -> dict[str, Any]:
    filters = [_after_cursor(cursor)] if cursor else []
    page = _list(account_id, PAGE_DEFAULT, filters)
    failed = [item["uuid"] for item in page["items"] if item["status"] in ("failed", "cancelled")]
    page["refunds"] = _refunds(failed)
    return page


@router.get("/videos")
async def videos_page(request: Request, session: SignedIn) -> Response:
    cursor = request.query_params.get("cursor")
    try:
        page = await in_db_thread(_page, session.account_id, cursor)
    except ApiError:
        return redirect("/dashboard/videos")
    return render(
        "videos.html",
        session=session,
        flash=await sessions.pop_flash(session),
        page=page,
        terminal=live.TERMINAL,
        first_page=cursor is None,
    )


def _stream(account_id: str, job_ids: list[str]) -> Response:
    response = StreamingResponse(
        live.status_events(account_id, job_ids), media_type="text/event-stream"
    )
    return secured(response)


async def _owned(account_id: str, job_ids: list[str]) -> None:
    """Another account's (or an unknown) id: 404 at once, for the whole stream."""
    found = await in_db_thread(live.statuses, account_id, job_ids)
    if len(found) != len(set(job_ids)):
        raise NotFound("Video not found")


@router.get("/videos/events")
async def page_events(request: Request, session: SignedIn) -> Response:
    """Every unfinished video of a page, in one stream (`?uuid=…&uuid=…`)."""
    job_ids = [_job_id(uuid) for uuid in request.query_params.getlist("uuid")[:PAGE_MAX]]
    if not job_ids:
        raise invalid("uuid", "give at least one")
    await _owned(session.account_id, job_ids)
    return _stream(session.account_id, job_ids)


@router.get("/videos/{uuid}/events")
async def video_events(uuid: str, session: SignedIn) -> Response:
    """One video's stream, as the API's GET /api/videos/{uuid}/events."""
    job_ids = [_job_id(uuid)]
    await _owned(session.account_id, job_ids)
    return _stream(session.account_id, job_ids)


async def _act(request: Request, session: SignedIn, action: Any, uuid: str, done: str) -> Response:
    await checked_form(request, session)
    try:
        await in_db_thread(action, session.account_id, _job_id(uuid))
        await sessions.set_flash(session, done)
    except ApiError as error:
        await sessions.set_flash(session, error.msg)
    return redirect("/dashboard/videos")


@router.post("/videos/{uuid}/cancel")
async def cancel(request: Request, uuid: str, session: SignedIn) -> Response:
    return await _act(request, session, cancel_job, uuid, "Video cancelled.")


@router.post("/videos/{uuid}/delete")
async def delete(request: Request, uuid: str, session: SignedIn) -> Response:
    return await _act(request, session, delete_job, uuid, "Video deleted.")


def _generate_page(
    session: SignedIn, form: dict[str, str], errors_by_field: dict[str, str], status_code: int = 200
) -> Response:
    return render(
        "generate.html",
        status_code,
        session=session,
        fields=form_fields(),
        form=form,
        errors=errors_by_field,
        price=price_credits(request_body(form)),
        upload_max_mb=get_settings().upload_max_bytes // (1024 * 1024),
    )


@router.get("/generate")
async def generate_form(session: SignedIn) -> Response:
    return _generate_page(session, {"generationType": "text_to_video"}, {})


def _field_error(request: Request, error: ValidationError) -> tuple[str, str]:
    """The field and reason the API's own 1000 answer would name."""
    answer = errors._validation_error(request, RequestValidationError(error.errors()))
    data = json.loads(bytes(answer.body))["data"]
    return str(data["field"]), str(data["reason"])


@router.post("/generate")
async def generate(request: Request, session: SignedIn) -> Response:
    form = await checked_form(request, session)
    try:
        body = GenerateVideoRequest.model_validate(request_body(form))
        answer = await create_video(submit_pipeline(request.app), body, session.account_id, None)
    except ValidationError as error:
        field, reason = _field_error(request, error)
        return _generate_page(session, form, {field: reason}, 400)
    except ApiError as error:
        named = error.data.get("field") if isinstance(error.data, dict) else None
        return _generate_page(session, form, {str(named or "form"): error.msg}, error.http_status)
    uuid = json.loads(bytes(answer.body))["data"]["uuid"]
    await sessions.set_flash(session, f"Video {uuid} queued.")
    return redirect("/dashboard/videos")


@router.post("/upload")
async def upload(request: Request, session: SignedIn) -> Response:
    """The drop zone's upload (a streamed multipart body, X-CSRF-Token header): the API's
    upload code, answered with its imageKey."""
    from api_gateway.deps import Caller
    from api_gateway.routes.upload import upload_video_image

    if not sessions.tokens_match(request.headers.get("x-csrf-token", ""), session.csrf):
        return JSONResponse({"code": 1002, "msg": "Form expired: reload the page"}, 403)
    wait_s = await sessions.over_write_budget(session.account_id)
    if wait_s:
        message = f"Too many changes this minute; try again in {wait_s} s"
        return JSONResponse({"code": 1003, "msg": message}, 429, {"Retry-After": str(wait_s)})
    try:
        return await upload_video_image(request, Caller(session.account_id, 0))
    except ApiError as error:
        return errors.error_response(error)
