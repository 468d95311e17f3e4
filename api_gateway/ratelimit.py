"""Per-key rate limit counted in Redis, so it holds across gateway processes and hosts."""

import logging
from typing import Annotated

import redis
from fastapi import Depends, Request

from api_gateway.auth import Caller, authenticate
from shared.constants import KEY_RATE_LIMIT
from shared.errors import RateLimitExceeded
from shared.quotas import hit_fixed_window
from shared.redis_client import get_redis, rkey
from shared.settings import get_settings

log = logging.getLogger(__name__)
WINDOW_S = 60


def rate_limited(request: Request, caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
    """Count this request against the caller's key; a dead Redis lets requests through (logged)."""
    limit = caller.rate_limit_per_minute or get_settings().default_rate_limit_per_minute
    try:
        result = hit_fixed_window(
            get_redis(), rkey(KEY_RATE_LIMIT, str(caller.key_id)), limit, WINDOW_S
        )
    except redis.RedisError:
        log.warning("rate limiter unavailable (Redis unreachable); request allowed")
        return caller
    headers = {
        "X-RateLimit-Limit": str(result.limit),
        "X-RateLimit-Remaining": str(result.remaining),
        "X-RateLimit-Reset": str(result.reset_s),
    }
    request.state.rate_limit_headers = headers
    if not result.allowed:
        raise RateLimitExceeded(
            f"Rate limit exceeded: {limit} requests per minute; retry in {result.reset_s} s",
            {"limit": limit, "retryAfter": result.reset_s},
            headers={**headers, "Retry-After": str(result.reset_s)},
        )
    return caller


LimitedCaller = Annotated[Caller, Depends(rate_limited)]
