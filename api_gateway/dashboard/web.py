"""Rendering for the dashboard: the Jinja2 environment (autoescaped; user text made visible,
never interpreted), the security headers every page carries, and the signed-in dependency."""

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api_gateway.dashboard.sessions import (
    SESSION_COOKIE,
    Session,
    current_session,
    end_session,
    over_write_budget,
    tokens_match,
)
from api_gateway.db_threads import in_db_thread
from shared.db import read_session
from shared.models import Account

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
# No inline script or style anywhere: the page's JavaScript and CSS are files served from here.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # a login link's token never leaves in a Referer
    "Cache-Control": "no-store",
}
# Characters that would reorder or hide text (bidi overrides and isolates, zero-width marks)
# or that a terminal would interpret (C0/C1 controls): shown as <U+XXXX> instead.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: object) -> str:
    """User text with every invisible or reordering character spelled out (escaping follows)."""
    if text is None:
        return ""
    return _INVISIBLE.sub(lambda match: f"<U+{ord(match.group()):04X}>", str(text))


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["visible"] = visible


def secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(**context)
    response = HTMLResponse(html, status_code=status_code)
    secured(response)
    return response


def redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    secured(response)
    return response


class NotSignedIn(Exception):
    """Raised by the signed-in dependency; answered with a redirect to the sign-in page."""


def _active(account_id: str) -> bool:
    with read_session() as db:
        account = db.get(Account, account_id)
        return account is not None and account.disabled_at is None


async def _signed_in(request: Request) -> Session:
    """The session, while its account is enabled (a disabled account's sessions end, as its
    keys stop working)."""
    session = await current_session(request)
    if session is None:
        raise NotSignedIn
    if not await in_db_thread(_active, session.account_id):
        await end_session(Response(), session)
        raise NotSignedIn
    return session


SignedIn = Annotated[Session, Depends(_signed_in)]


async def checked_form(
    request: Request, session: Session, *, counted: bool = True
) -> dict[str, str]:
    """The posted form's text fields, after its CSRF token matched the session's and (when
    `counted`) the change fit the account's dashboard write budget."""
    form = await request.form()
    token = str(form.get("csrf", "")) or request.headers.get("x-csrf-token", "")
    if not tokens_match(token, session.csrf):
        raise CsrfRefused
    wait_s = await over_write_budget(session.account_id) if counted else 0
    if wait_s:
        raise TooManyChanges(wait_s)
    return {name: value for name, value in form.items() if isinstance(value, str)}


class TooManyChanges(Exception):
    """Past the dashboard's write budget: answered 429, nothing done."""

    def __init__(self, wait_s: int) -> None:
        super().__init__(wait_s)
        self.wait_s = wait_s


class CsrfRefused(Exception):
    """A form without this session's token: answered 403, nothing done."""


def install_handlers(app: Any) -> None:
    async def not_signed_in(_: Request, __: Exception) -> Response:
        response = redirect("/dashboard/sign-in")
        response.delete_cookie(SESSION_COOKIE, path="/dashboard")
        return response

    async def csrf_refused(_: Request, __: Exception) -> Response:
        return render(
            "message.html", 403, title="Refused", message="Form expired: reload the page."
        )

    async def too_many(_: Request, exc: Exception) -> Response:
        wait_s = exc.wait_s if isinstance(exc, TooManyChanges) else 60
        message = f"Too many changes this minute; try again in {wait_s} s."
        response = render("message.html", 429, title="Slow down", message=message)
        response.headers["Retry-After"] = str(wait_s)
        return response

    app.add_exception_handler(NotSignedIn, not_signed_in)
    app.add_exception_handler(TooManyChanges, too_many)
    app.add_exception_handler(CsrfRefused, csrf_refused)
