"""The adapter every task uses, counted: each submit, poll and download is timed and classed
(shared/metrics/upstream.py), and its success or failure feeds the upstream's recent error
rate that GET /api/ready reports (shared/upstream_health.py). Nothing else changes."""

import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from shared import upstream_health
from shared.errors import UpstreamConfigError, UpstreamPermanentError, UpstreamTransientError
from shared.metrics import upstream as metrics
from worker.upstream.base import PollResult, SubmitRequest, Upstream, VideoRef


def outcome_of(kind: str, error: BaseException | None) -> str:
    """The bounded outcome class of a call (shared.metrics.upstream.OUTCOMES)."""
    if error is None:
        return "ok"
    if isinstance(error, UpstreamPermanentError):
        return "config" if isinstance(error, UpstreamConfigError) else "permanent"
    status = error.status if isinstance(error, UpstreamTransientError) else None
    if status == 429:
        return "rate_limited"
    if kind == "submit" and status is None:  # no answer: it may have been accepted
        return "ambiguous"
    return "transient"


T = TypeVar("T")


def _record(kind: str, started: float, error: BaseException | None) -> None:
    outcome = outcome_of(kind, error)
    metrics.observe(kind, outcome, time.monotonic() - started)
    upstream_health.count(outcome == "ok")


async def _counted(kind: str, call: Awaitable[T]) -> T:
    """Await one adapter call (not started before this), timed and classed."""
    started = time.monotonic()
    try:
        result = await call
    except Exception as exc:
        _record(kind, started, exc)
        raise
    _record(kind, started, None)
    return result


class MeteredUpstream:
    """Wraps an adapter (Upstream protocol) and counts its calls."""

    def __init__(self, inner: Upstream) -> None:
        self.inner = inner
        self.name = inner.name

    async def check_model(self) -> None:
        await self.inner.check_model()

    async def submit(self, request: SubmitRequest) -> str:
        return await _counted("submit", self.inner.submit(request))

    async def poll(self, operation: str) -> PollResult:
        return await _counted("poll", self.inner.poll(operation))

    async def download(self, video: VideoRef, dest: Path, *, max_bytes: int) -> int:
        return await _counted("download", self.inner.download(video, dest, max_bytes=max_bytes))

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)  # anything else an adapter offers, as it is
