"""Per-key rate limit counted in Redis, so it holds across gateway processes and hosts."""

from typing import Annotated

from fastapi import Depends, Request

from api_gateway.auth import Admission, Caller, authenticate
from shared.errors import RateLimitExceeded


async def admit(request: Request, fetch: str | None = None) -> Admission:
    """Authenticate and count this request (and read the Redis key `fetch` on the way); a dead
    Redis lets requests through (logged)."""
    admission = await authenticate(request, fetch)
    window = admission.window
    if window is None:
        return admission
    headers = {
        "X-RateLimit-Limit": str(window.limit),
        "X-RateLimit-Remaining": str(window.remaining),
        "X-RateLimit-Reset": str(window.reset_s),
    }
    request.state.rate_limit_headers = headers
    if not window.allowed:
        raise RateLimitExceeded(
            f"Rate limit exceeded: {window.limit} requests per minute; retry in {window.reset_s} s",
            {"limit": window.limit, "retryAfter": window.reset_s},
            headers={**headers, "Retry-After": str(window.reset_s)},
        )
    return admission


async def rate_limited(request: Request) -> Caller:
    return (await admit(request)).caller


LimitedCaller = Annotated[Caller, Depends(rate_limited)]
