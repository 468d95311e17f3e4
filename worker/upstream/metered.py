"""The adapter every task uses, counted: each submit, poll and download is timed and classed
(shared/metrics/upstream.py), and its success or failure feeds the upstream's recent error
rate that GET /api/ready reports (shared/upstream_health.py). Nothing else changes."""

import time
from pathlib import Path

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


def _record(kind: str, started: float, error: BaseException | None) -> None:
    outcome = outcome_of(kind, error)
    metrics.observe(kind, outcome, time.monotonic() - started)
    upstream_health.count(outcome == "ok")


class MeteredUpstream:
    """Wraps an adapter (Upstream protocol) and counts its calls."""

    def __init__(self, inner: Upstream) -> None:
        self.inner = inner
        self.name = inner.name

    async def check_model(self) -> None:
        await self.inner.check_model()

    async def submit(self, request: SubmitRequest) -> str:
        started = time.monotonic()
        try:
            operation = await self.inner.submit(request)
        except Exception as exc:
            _record("submit", started, exc)
            raise
        _record("submit", started, None)
        return operation

    async def poll(self, operation: str) -> PollResult:
        started = time.monotonic()
        try:
            result = await self.inner.poll(operation)
        except Exception as exc:
            _record("poll", started, exc)
            raise
        _record("poll", started, None)
        return result

    async def download(self, video: VideoRef, dest: Path, *, max_bytes: int) -> int:
        started = time.monotonic()
        try:
            size = await self.inner.download(video, dest, max_bytes=max_bytes)
        except Exception as exc:
            _record("download", started, exc)
            raise
        _record("download", started, None)
        return size

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)  # anything else an adapter offers, as it is
