"""A real HTTP server on 127.0.0.1 whose answers each test scripts, path by path.

Used where the simulator cannot help: a second origin for cross-host redirects, and exact
control over headers, body sizes, dropped connections and stalls.
"""

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.support.http_server import QuietHandler, base_url


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Route = Callable[["Handler"], None]


class Handler(QuietHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.owner.seen.append(Seen(self.command, parts.path, parts.query, headers, body))
        route = self.server.owner.routes.get(parts.path)
        if route is None:
            self.send_json(
                404, {"error": {"code": 404, "message": "no route", "status": "NOT_FOUND"}}
            )
            return
        route(self)

    do_GET = do_POST = _handle

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def send_until_close(self, chunks: Iterator[bytes]) -> None:
        """A body without Content-Length, delimited by closing the connection."""
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for chunk in chunks:
            self.wfile.write(chunk)

    def redirect(self, location: str, status: int = 302) -> None:
        self.send(status, b"", {"Location": location})

    def drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "FakeServer"


class FakeServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.release = threading.Event()  # set at stop, so stalled handlers end
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )

    @property
    def url(self) -> str:
        return base_url(self._server)

    def start(self) -> "FakeServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def seen_at(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]
