"""GET /api/ready: whether this stack can do its work, for a load balancer and an operator alike
(no auth). 200 when ready; 503 (code 5000) with the same data and the reasons when not.

Beside /api/health's database and Redis, it reads what says the pipeline moves: the sweeper's
last run, the oldest waiting job, and the upstream's error rate over the last 5 minutes (every
worker writes it to Redis: shared/upstream_health.py). Limits are settings (ready_*).
"""

from functools import cache

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api_gateway.errors import error_response, ok
from api_gateway.openapi import PUBLIC
from api_gateway.schemas import Envelope
from shared.errors import ServiceUnavailable
from shared.metrics.state import DatabaseState, read_database
from shared.redis_client import get_redis
from shared.settings import get_settings
from shared.timeutil import iso_z
from shared.upstream_health import WINDOW_MINUTES, ErrorRate, recent

router = APIRouter(tags=["operations"])
UPSTREAM_MIN_CALLS = 20  # fewer calls in the window say nothing about an error rate


class Backlog(BaseModel):
    waiting: int  # paid jobs the dispatcher has not admitted yet
    oldestWaitingSeconds: float  # noqa: N815


class UpstreamHealth(BaseModel):
    windowSeconds: int  # noqa: N815
    calls: int
    errors: int
    errorRate: float  # noqa: N815


class ReadyData(BaseModel):
    ready: bool
    database: bool
    redis: bool
    lastSweepAt: str | None = None  # noqa: N815
    sweepAgeSeconds: float | None = None  # noqa: N815
    backlog: Backlog | None = None
    upstream: UpstreamHealth | None = None
    problems: list[str]


@cache
def _limiter() -> anyio.CapacityLimiter:
    return anyio.CapacityLimiter(2)  # probes never queue behind a burst of API requests


def _database() -> DatabaseState | None:
    try:
        return read_database(full=False)
    except Exception:
        return None


def _upstream() -> ErrorRate | None:
    try:
        return recent(get_redis())
    except Exception:
        return None


def _problems(db: DatabaseState | None, rate: ErrorRate | None) -> list[str]:
    settings = get_settings()
    problems = []
    if db is None:
        problems.append("database not answering")
    else:
        age = db.sweep_age_s
        if age is None:
            problems.append("the sweeper has never run (is beat running?)")
        elif age > settings.ready_sweep_max_age_s:
            problems.append(f"the sweeper last ran {age:.0f} s ago (is beat running?)")
        oldest = db.oldest_age_s.get("waiting", 0.0)
        if oldest > settings.ready_backlog_max_age_s:
            problems.append(f"the oldest waiting job has waited {oldest:.0f} s")
    if rate is None:
        problems.append("redis not answering")
    elif rate.calls >= UPSTREAM_MIN_CALLS and rate.rate > settings.ready_upstream_error_rate_max:
        problems.append(f"{rate.rate:.0%} of the last {rate.calls} upstream calls failed")
    return problems


def readiness() -> ReadyData:
    db, rate = _database(), _upstream()
    problems = _problems(db, rate)
    data = ReadyData(
        ready=not problems, database=db is not None, redis=rate is not None, problems=problems
    )
    if db is not None:
        data.lastSweepAt = iso_z(db.last_sweep_at) if db.last_sweep_at else None
        data.sweepAgeSeconds = db.sweep_age_s
        data.backlog = Backlog(
            waiting=db.jobs.get("pending", 0), oldestWaitingSeconds=db.oldest_age_s["waiting"]
        )
    if rate is not None:
        data.upstream = UpstreamHealth(
            windowSeconds=WINDOW_MINUTES * 60,
            calls=rate.calls,
            errors=rate.errors,
            errorRate=rate.rate,
        )
    return data


@router.get("/ready", response_model=Envelope[ReadyData], openapi_extra=PUBLIC)
async def get_readiness() -> JSONResponse:
    data = await anyio.to_thread.run_sync(readiness, limiter=_limiter())
    if data.ready:
        return ok(data.model_dump())
    reason = "; ".join(data.problems)
    return error_response(ServiceUnavailable(f"Not ready: {reason}", data.model_dump()))
