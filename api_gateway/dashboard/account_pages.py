"""The API keys, credits and webhooks pages, through the same functions as the API's account,
ledger and webhook routes and `veo-admin`'s key and webhook commands."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api_gateway.dashboard import sessions
from api_gateway.dashboard.usage import usage_chart
from api_gateway.dashboard.web import SignedIn, checked_form, redirect, render
from api_gateway.db_threads import in_db_thread
from api_gateway.routes import webhooks as webhook_routes
from api_gateway.routes.account import _account, _ledger
from api_gateway.schemas import KeyId
from shared import account_webhooks
from shared.api_keys import issue_key, list_keys, revoke_own_key
from shared.errors import ApiError
from shared.settings import get_settings

router = APIRouter()
LEDGER_PAGE = 50


@router.get("/keys")
async def keys_page(session: SignedIn) -> Response:
    return render(
        "keys.html",
        session=session,
        flash=await sessions.pop_flash(session),
        keys=await in_db_thread(list_keys, session.account_id),
        new_key=None,
    )


@router.post("/keys")
async def create_key(request: Request, session: SignedIn) -> Response:
    """The new key is on this answer only (no redirect: it is not kept anywhere to show again)."""
    await checked_form(request, session)
    key = await in_db_thread(issue_key, session.account_id)
    return render(
        "keys.html",
        session=session,
        flash=None,
        keys=await in_db_thread(list_keys, session.account_id),
        new_key=key,
    )


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: KeyId, session: SignedIn) -> Response:
    await checked_form(request, session)
    revoked = await in_db_thread(revoke_own_key, session.account_id, key_id)
    await sessions.set_flash(session, "Key revoked." if revoked else "No such active key.")
    return redirect("/dashboard/keys")


def _credits(account_id: str, cursor: str | None) -> dict[str, Any]:
    from api_gateway.cursors import decode_cursor

    before = None if cursor is None else int(decode_cursor(cursor, id=int)["id"])
    return {
        "account": _account(account_id),
        "ledger": _ledger(account_id, LEDGER_PAGE, before),
        "chart": usage_chart(account_id),
    }


@router.get("/credits")
async def credits_page(request: Request, session: SignedIn) -> Response:
    try:
        found = await in_db_thread(_credits, session.account_id, request.query_params.get("cursor"))
    except ApiError:
        return redirect("/dashboard/credits")
    return render("credits.html", session=session, **found)


def _webhooks(account_id: str, reveal: bool) -> dict[str, Any]:
    return {
        "url": _account(account_id)["webhookUrl"],
        "secrets": account_webhooks.current_secrets(account_id) if reveal else [],
        "endpoints": webhook_routes._endpoints(account_id),
        "deliveries": webhook_routes._list(account_id, None, 50),
    }


async def _webhooks_page(session: SignedIn, reveal: bool = False) -> Response:
    return render(
        "webhooks.html",
        session=session,
        flash=await sessions.pop_flash(session),
        **await in_db_thread(_webhooks, session.account_id, reveal),
    )


@router.get("/webhooks")
async def webhooks_page(session: SignedIn) -> Response:
    return await _webhooks_page(session)


@router.post("/webhooks/reveal")
async def reveal_secret(request: Request, session: SignedIn) -> Response:
    """The signing secret, on this answer only (a POST: never in a URL, history or cache)."""
    await checked_form(request, session)
    return await _webhooks_page(session, reveal=True)


async def _webhook_action(session: SignedIn, action: Any, *args: Any, done: str) -> Response:
    try:
        await in_db_thread(action, session.account_id, *args)
        await sessions.set_flash(session, done)
    except ApiError as error:
        await sessions.set_flash(session, error.msg)
    return redirect("/dashboard/webhooks")


@router.post("/webhooks/endpoint")
async def set_endpoint(request: Request, session: SignedIn) -> Response:
    form = await checked_form(request, session)
    url = form.get("url", "").strip()[:2048] or None
    return await _webhook_action(
        session, account_webhooks.set_endpoint, url, done="Endpoint saved."
    )


@router.post("/webhooks/rotate")
async def rotate(request: Request, session: SignedIn) -> Response:
    await checked_form(request, session)
    hours = get_settings().webhook_secret_grace_s / 3600
    done = f"New signing secret; the previous one keeps signing for {hours:g} h."
    return await _webhook_action(session, account_webhooks.rotate, done=done)


@router.post("/webhooks/test")
async def test_ping(request: Request, session: SignedIn) -> Response:
    await checked_form(request, session)
    return await _webhook_action(session, webhook_routes._ping, None, done="Test ping queued.")


@router.post("/webhooks/deliveries/{delivery_id}/replay")
async def replay(request: Request, delivery_id: str, session: SignedIn) -> Response:
    await checked_form(request, session)
    return await _webhook_action(
        session, webhook_routes._replay, delivery_id[:64], done="Delivery replayed."
    )
