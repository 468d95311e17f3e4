"""Real HTTP servers on loopback for tests: a quiet handler base and a server on its own thread."""

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """Logs nothing (tests read what their server recorded instead); answers in one call each,
    including the misbehaving answers outbound-fetch tests need (endless chunks, a slow drip)."""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test's output shows its own failures, not every request."""

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """The status, `headers`, a Content-Length for `body`, then `body`."""
        self._head(status, {**(headers or {}), "Content-Length": str(len(body))})
        self.wfile.write(body)

    def send_chunked(self, chunk: bytes, count: int, headers: dict[str, str] | None = None) -> None:
        """`count` chunks and no Content-Length: only counting while reading can stop it."""
        self._head(200, {**(headers or {}), "Transfer-Encoding": "chunked"})
        with contextlib.suppress(OSError):  # the client hung up, as it should
            for _ in range(count):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")

    def send_drip(
        self, byte: bytes, every_s: float, count: int, headers: dict[str, str] | None = None
    ) -> None:
        """Declares 100,000 bytes, then sends one every `every_s`: each read is quick, the whole
        never ends."""
        self._head(200, {**(headers or {}), "Content-Length": "100000"})
        with contextlib.suppress(OSError):  # the client hung up, as it should
            for _ in range(count):
                self.wfile.write(byte)
                self.wfile.flush()
                time.sleep(every_s)  # deliberate: a slow-drip server

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()


def start_server(
    handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0
) -> ThreadingHTTPServer:
    """Serve `handler` on a daemon thread (a thread per request); `stop_server` ends it."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop_server(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


def base_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"
