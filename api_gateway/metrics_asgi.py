"""The gateway's metrics, outermost of its ASGI classes: GET /metrics (Prometheus text) served
before authentication and the rate limits, and each other request counted and timed by its
route template. Costs a few microseconds a request (two label lookups, one histogram bucket).
"""

import ipaddress
import os
import time
from functools import cache

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.metrics import exposition
from shared.metrics import gateway as metrics
from shared.metrics.process import MULTIPROC_ENV
from shared.settings import get_settings

METRICS_PATH = "/metrics"
Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


@cache
def _allowed() -> Networks:
    value = get_settings().metrics_allow_cidrs
    return tuple(
        ipaddress.ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip()
    )


def may_scrape(client: tuple[str, int] | None) -> bool:
    """Whether this client may read /metrics (metrics_allow_cidrs; empty: anyone)."""
    networks = _allowed()
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(client[0] if client else "")
    except ValueError:
        return False
    return any(address in network for network in networks)


async def _plain(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Metrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == METRICS_PATH and get_settings().metrics_enabled:
            await self._scrape(scope, send)
            return
        started = time.perf_counter()
        status, headers = 500, []

        async def counted(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], message.get("headers", [])
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            route = getattr(scope.get("route"), "path", None)
            template = metrics.route_template(path, route)
            metrics.observe(template, scope["method"], status, time.perf_counter() - started)
            reason = metrics.refusal_reason(status, headers)
            if reason is not None:
                metrics.REFUSALS.labels(reason).inc()

    async def _scrape(self, scope: Scope, send: Send) -> None:
        if not may_scrape(scope.get("client")):
            await _plain(send, 403, b"forbidden\n", "text/plain; charset=utf-8")
            return
        if os.environ.get(MULTIPROC_ENV):  # reads files: off the event loop
            body = await anyio.to_thread.run_sync(exposition.render)
        else:
            body = exposition.render()
        await _plain(send, 200, body, exposition.CONTENT_TYPE)
