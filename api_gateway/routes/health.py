"""GET /api/health: 200 when the database and Redis answer, 503 otherwise (no auth)."""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api_gateway.envelope import ok
from api_gateway.schemas import Envelope, HealthData
from shared.constants import HEARTBEAT_SWEEPER
from shared.db import read_session
from shared.models import Heartbeat
from shared.redis_client import get_redis
from shared.timeutil import iso_z

router = APIRouter(tags=["operations"])


def _probe() -> tuple[bool, bool, str | None]:
    database, redis_ok, last_sweep = False, False, None
    try:
        with read_session() as session:
            session.execute(text("SELECT 1"))
            database = True
            beat = session.get(Heartbeat, HEARTBEAT_SWEEPER)
            last_sweep = iso_z(beat.ran_at) if beat else None
    except Exception:
        database = False
    try:
        redis_ok = bool(get_redis().ping())
    except Exception:
        redis_ok = False
    return database, redis_ok, last_sweep


@router.get("/health", response_model=Envelope[HealthData])
async def health() -> JSONResponse:
    database, redis_ok, last_sweep = await run_in_threadpool(_probe)
    data = HealthData(database=database, redis=redis_ok, lastSweepAt=last_sweep).model_dump()
    if database and redis_ok:
        return ok(data)
    down = ", ".join(name for name, up in (("database", database), ("redis", redis_ok)) if not up)
    return JSONResponse(
        {"code": 5000, "msg": f"Unhealthy: {down} not answering", "data": data}, status_code=503
    )
