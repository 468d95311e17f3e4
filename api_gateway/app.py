"""The gateway: validates, authenticates, debits, writes the job row, enqueues. Nothing slow.

`create_app` assembles the routers, the error rendering and the ASGI classes; `lifespan` builds
the per-process submit pipeline; `tune_process` sets the garbage collector and glibc's malloc
for a long-running server, once, when the module is imported.
"""

import ctypes
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api_gateway import errors
from api_gateway.asgi import BodyLimit, RateLimitHeaders, StatusFastPath, SubmitFastPath
from api_gateway.batching.pipeline import running_submit_pipeline
from api_gateway.routes import files, generate, health, status, upload, webhooks
from api_gateway.schemas import ErrorEnvelope

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
    )
    errors.install(app)
    for module in (generate, status, upload, health, files, webhooks):
        app.include_router(module.router, prefix="/api")
    app.add_middleware(StatusFastPath)  # innermost: the others still wrap them
    app.add_middleware(SubmitFastPath)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(BodyLimit)
    app.openapi = _envelope_only_openapi(app)  # type: ignore[method-assign]
    return app


def _envelope_only_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The schema without FastAPI's automatic 422: validation errors are the 400 envelope here."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema  # type: ignore[return-value]

    return openapi


M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter number
MMAP_THRESHOLD_BYTES = 1024 * 1024  # buffers this big get their own mmap, freed at once


def _tune_garbage_collector() -> None:
    """Fewer, cheaper collections: a request allocates a few hundred objects, so the default
    gen-0 threshold (700) started a collection every few requests, and each older-generation
    pass walked every object built at import (SQLAlchemy and pydantic models). Freezing those
    and raising the threshold cut status CPU per request by about a fifth (bench/README.md)."""
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _pin_mmap_threshold() -> None:
    """Make glibc give every buffer of 1 MiB or more (Pillow's 16 MB pixel blocks) its own mmap.

    By default glibc raises its mmap threshold to the size of each big block freed, so after
    the first image decode (api_gateway/uploads.py) Pillow's blocks come from per-thread malloc
    arenas: calloc must then zero, so make resident, all 144 MB of a 36 MP image even when a
    truncated file fills one row, and freed blocks linger in up to 8 arenas per core. 24
    truncated 36 MP PNGs, 2 decoding at once, grew the gateway by ~0.9 GB; pinned, by a few MB.
    A no-op without glibc's mallopt().
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def tune_process() -> None:
    """The process-wide settings of a gateway process, in one place (after its imports)."""
    _tune_garbage_collector()
    _pin_mmap_threshold()


app = create_app()
tune_process()
