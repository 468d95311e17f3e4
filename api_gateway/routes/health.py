"""GET /api/health: 200 when the database and Redis answer, 503 otherwise (no auth).

Health must answer while the gateway is busy: Redis is pinged on the event loop and the
database probe has its own thread limiter, so it never queues behind a burst of API requests.
"""

from functools import cache

import anyio
import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select

from api_gateway.errors import error_response, ok
from api_gateway.openapi import PUBLIC
from api_gateway.schemas import Envelope, HealthData
from shared import counters
from shared.constants import HEARTBEAT_SWEEPER
from shared.db import read_connection
from shared.errors import ServiceUnavailable
from shared.models import HEARTBEATS
from shared.redis_client import get_async_redis
from shared.timeutil import iso_z

router = APIRouter(tags=["operations"])
_heartbeats = HEARTBEATS
_LAST_SWEEP = select(_heartbeats.c.ran_at).where(_heartbeats.c.name == HEARTBEAT_SWEEPER)


@cache
def _probe_limiter() -> anyio.CapacityLimiter:
    return anyio.CapacityLimiter(2)


def _probe_database() -> tuple[bool, str | None, int]:
    try:
        with read_connection() as connection:
            ran_at = connection.execute(_LAST_SWEEP).scalar()  # also proves the database answers
            unknown = counters.read(connection, [counters.UNKNOWN_SUBMITS])
    except Exception:
        return False, None, 0
    return True, iso_z(ran_at) if ran_at else None, unknown[counters.UNKNOWN_SUBMITS]


async def _probe_redis() -> bool:
    try:
        return bool(await get_async_redis().ping())
    except (redis.RedisError, OSError):
        return False


@router.get(
    "/health", response_model=Envelope[HealthData], operation_id="getHealth", openapi_extra=PUBLIC
)
async def health() -> JSONResponse:
    database, last_sweep, unknown_submits = await anyio.to_thread.run_sync(
        _probe_database, limiter=_probe_limiter()
    )
    redis_ok = await _probe_redis()
    data = HealthData(
        database=database, redis=redis_ok, lastSweepAt=last_sweep, unknownSubmits=unknown_submits
    ).model_dump()
    if database and redis_ok:
        return ok(data)
    down = ", ".join(name for name, up in (("database", database), ("redis", redis_ok)) if not up)
    return error_response(ServiceUnavailable(f"Unhealthy: {down} not answering", data))
