"""The calling key's rate-limit budgets as GET /api/account shows them: the one place that
reads them, so a change to how requests are counted changes only this.

Today one per-key window counts every request (api_gateway.deps.admit), so the `read` and
`write` budgets are the same window: the one this request was just counted in.
"""

from fastapi import Request

from api_gateway.deps import Admission
from shared.key_cache import RATE_WINDOW_S


def _budget(limit: int, remaining: int, reset_s: int) -> dict[str, int]:
    return {"limit": limit, "remaining": remaining, "resetSeconds": reset_s}


async def rate_limit_budgets(request: Request, configured_limit: int) -> dict[str, dict[str, int]]:
    """`{write, read}` of the key that made this request. `configured_limit` is the account's
    own limit (or the default): what is shown while Redis is down, when nothing is counted and
    the limits fail open."""
    admission: Admission | None = getattr(request.state, "admission", None)
    window = admission.window if admission is not None else None
    if window is None:
        budget = _budget(configured_limit, configured_limit, RATE_WINDOW_S)
    else:
        budget = _budget(window.limit, window.remaining, window.reset_s)
    return {"write": budget, "read": dict(budget)}
