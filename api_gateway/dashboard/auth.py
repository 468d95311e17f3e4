"""Signing in (an API key, or a one-time login link), and out. A key is checked exactly as the
API checks it (api_gateway.deps), and each refused one counts against the client's address in
the API's own limit of refused keys."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from api_gateway.dashboard import sessions
from api_gateway.dashboard.web import SignedIn, _active, checked_form, redirect, render
from api_gateway.db_threads import in_db_thread
from api_gateway.deps import _lookup, client_address
from shared.keys import hash_api_key
from shared.login_links import redeem_login_link

router = APIRouter()
REFUSED = "That API key is not valid (unknown, revoked, or its account is disabled)."


def _sign_in_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    token = sessions.signed_out_csrf(request)
    response = render("sign_in.html", status_code, error=error, csrf=token)
    sessions.remember_csrf(request, response, token)
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    if await sessions.current_session(request) is not None:
        return redirect("/dashboard/videos")
    return _sign_in_page(request)


@router.post("/sign-in")
async def sign_in(
    request: Request, api_key: Annotated[str, Form(max_length=200)], csrf: Annotated[str, Form()]
) -> Response:
    if not sessions.signed_out_csrf_ok(request, csrf):
        return _sign_in_page(request, "The form expired; try again.", 403)
    client = client_address(request)
    wait_s = await sessions.sign_in_blocked(client)
    if wait_s:
        return _sign_in_page(request, f"Too many refused keys; try again in {wait_s} s.", 429)
    record = await in_db_thread(_lookup, hash_api_key(api_key.strip()))
    if record is None:
        await sessions.count_failed_sign_in(client)
        return _sign_in_page(request, REFUSED, 401)
    response = redirect("/dashboard/videos")
    await sessions.start_session(request, response, record.account_id)
    return response


@router.get("/login/{token}")
async def login_link(request: Request, token: str) -> Response:
    """A confirmation button, so a link previewer fetching the URL does not spend it."""
    csrf = sessions.signed_out_csrf(request)
    response = render("login_link.html", token=token, csrf=csrf)
    sessions.remember_csrf(request, response, csrf)
    return response


@router.post("/login")
async def redeem_link(
    request: Request, token: Annotated[str, Form(max_length=100)], csrf: Annotated[str, Form()]
) -> Response:
    if not sessions.signed_out_csrf_ok(request, csrf):
        return _sign_in_page(request, "The form expired; open the link again.", 403)
    client = client_address(request)
    if await sessions.sign_in_blocked(client):
        return _sign_in_page(request, "Too many refused sign-ins; wait a minute.", 429)
    account_id = await redeem_login_link(token)
    if account_id is None or not await in_db_thread(_active, account_id):
        await sessions.count_failed_sign_in(client)
        return _sign_in_page(request, "That login link is unknown, used or expired.", 401)
    response = redirect("/dashboard/videos")
    await sessions.start_session(request, response, account_id)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: SignedIn) -> Response:
    await checked_form(request, session, counted=False)  # signing out is never refused
    response = redirect("/dashboard/sign-in")
    await sessions.end_session(response, session)
    return response
