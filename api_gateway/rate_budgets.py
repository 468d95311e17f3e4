"""The calling key's rate-limit budgets as GET /api/account shows them: the one place that
reads them, so a change to how requests are counted changes only this.

Both budgets are read from the key's windows in Redis without counting anything
(shared.key_cache.peek_budgets); this request itself has already been counted in `read`.
"""

import redis
from fastapi import Request

from api_gateway.deps import bearer_token
from shared.key_cache import RATE_WINDOW_S, Budget, peek_budgets
from shared.keys import hash_api_key
from shared.redis_client import get_async_redis


def _shown(budget: Budget) -> dict[str, int]:
    return {"limit": budget.limit, "remaining": budget.remaining, "resetSeconds": budget.reset_s}


async def rate_limit_budgets(
    request: Request, write_limit: int, read_limit: int
) -> dict[str, dict[str, int]]:
    """`{write, read}` of the key that made this request. The configured limits (the account's
    own, or the defaults) are what is shown while Redis is down, when nothing is counted and
    the limits fail open."""
    try:
        budgets = await peek_budgets(get_async_redis(), hash_api_key(bearer_token(request)))
    except (redis.RedisError, OSError):
        budgets = {}
    full = {
        "write": Budget(write_limit, write_limit, RATE_WINDOW_S),
        "read": Budget(read_limit, read_limit, RATE_WINDOW_S),
    }
    return {name: _shown(budgets.get(name, full[name])) for name in ("write", "read")}
