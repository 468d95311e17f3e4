"""Closing a connection without any answer, which ASGI itself cannot express.

Uvicorn answers 500 when an app returns without responding, so a real "dropped connection"
needs the socket. `SimHttpToolsProtocol` puts the connection's transport into each request's
scope; `DropConnection` aborts it (TCP reset, no status line) and waits until the server has
noticed, so uvicorn neither logs an error nor tries to answer on our behalf.
"""

import asyncio
import contextlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

TRANSPORT_SCOPE_KEY = "veo_sim.transport"

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools ships with uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def protocol_class() -> Any:
    """The uvicorn `http` setting: our transport-exposing protocol when httptools is present."""
    if HttpToolsProtocol is None:  # pragma: no cover
        return "auto"

    class SimHttpToolsProtocol(HttpToolsProtocol):
        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.scope[TRANSPORT_SCOPE_KEY] = self.transport  # type: ignore[literal-required]

    return SimHttpToolsProtocol


async def client_gone(request: Request) -> bool:
    """Has the client hung up? A transport flag under our server (cheap, no receive() dance)."""
    transport = request.scope.get(TRANSPORT_SCOPE_KEY)
    if transport is not None:
        return bool(transport.is_closing())
    return await request.is_disconnected()


class DroppedConnectionError(RuntimeError):
    """Raised when a drop is asked for under a server that does not expose its transport."""


class DropConnection(Response):
    """A "response" that sends nothing and resets the connection."""

    def __init__(self) -> None:
        super().__init__(status_code=499)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = scope.get(TRANSPORT_SCOPE_KEY)
        if transport is None:
            raise DroppedConnectionError("simulated dropped connection (server without transport)")
        transport.abort()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                while (await receive())["type"] != "http.disconnect":
                    pass
