"""The gateway: validates, authenticates, debits, writes the job row, enqueues. Nothing slow.

`create_app` assembles the routers, the error rendering and the ASGI classes; `lifespan` builds
the per-process submit pipeline. The process's own settings (garbage collector, malloc) are in
api_gateway/tuning.py.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api_gateway import errors, openapi
from api_gateway.asgi import BodyLimit, RateLimitHeaders, StatusFastPath, SubmitFastPath
from api_gateway.batching.pipeline import running_submit_pipeline
from api_gateway.dashboard import app as dashboard
from api_gateway.metrics_asgi import Metrics
from api_gateway.routes import (
    account,
    events,
    files,
    generate,
    health,
    keys,
    notifications,
    ready,
    status,
    upload,
    videos,
    webhook_settings,
    webhooks,
)
from api_gateway.schemas import ErrorEnvelope
from api_gateway.tuning import tune_garbage_collector
from shared import log_redaction, logs

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "1000 invalid parameters"},
    401: {"model": ErrorEnvelope, "description": "1002 authentication failed"},
    402: {"model": ErrorEnvelope, "description": "1001 insufficient credits"},
    404: {"model": ErrorEnvelope, "description": "1000 no such video, delivery, file or endpoint"},
    429: {"model": ErrorEnvelope, "description": "1003 rate limit exceeded"},
    500: {"model": ErrorEnvelope, "description": "5000 server error"},
    503: {"model": ErrorEnvelope, "description": "5000 a dependency is down"},
}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Per process: concurrent submits' rows are inserted together, and their messages leave
    in batches after the commit; the publisher empties on shutdown. Routes reach the pipeline
    through api_gateway.deps (SubmitPipelineDep, submit_pipeline)."""
    async with running_submit_pipeline() as pipeline:
        app.state.submit_pipeline = pipeline
        yield


def create_app() -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="Veo 3.1 video generation API",
        version="1.0",
        description="Generate videos from text or images. Every answer is `{code, msg, data}`.",
        responses=ERROR_RESPONSES,
        generate_unique_id_function=openapi.operation_id,
        docs_url=None,  # served without a CDN by api_gateway.openapi
        redoc_url=None,
    )
    errors.install(app)
    for module in (
        generate,
        status,
        upload,
        health,
        ready,
        files,
        webhooks,
        account,
        videos,
        notifications,
        keys,
        webhook_settings,
        events,
    ):
        app.include_router(module.router, prefix="/api")
    app.add_middleware(StatusFastPath)  # innermost: the others still wrap them
    app.add_middleware(SubmitFastPath)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(BodyLimit)
    app.add_middleware(Metrics)  # outermost: times and counts every answer, serves /metrics
    openapi.install(app)
    dashboard.install(app)  # the account holders' web page, /dashboard
    return app


log_redaction.install()  # before uvicorn logs the first request line: no secret in the logs
logs.configure("gateway")  # VEO_LOG_FORMAT=json: one JSON object per line (uvicorn's too)
app = create_app()
tune_garbage_collector()
