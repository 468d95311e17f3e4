"""A real webhook receiver on loopback whose answers a test can change while it runs."""

import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

from tests.support.http_server import QuietHandler, base_url, start_server, stop_server


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # by lower-case name; a repeated header shows its last value
    body: bytes
    at: float
    raw_headers: list[tuple[str, str]] = field(default_factory=list)  # as sent, repeats too

    def values(self, name: str) -> list[str]:
        """Every value sent for the header `name` (any case), in order."""
        return [value for key, value in self.raw_headers if key.lower() == name.lower()]


@dataclass
class Behaviour:
    status: int = 200
    delay_s: float = 0.0


@dataclass
class Receiver:
    """Answers every POST with the behaviour set for its path (default 200 at once)."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return base_url(self.server)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def set(self, path: str, status: int = 200, delay_s: float = 0.0) -> None:
        self.behaviours["/" + path.lstrip("/")] = Behaviour(status, delay_s)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == "/" + path.lstrip("/")]

    def close(self) -> None:
        stop_server(self.server)


def start_receiver(port: int = 0, host: str = "127.0.0.1") -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            receiver = holder["r"]
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            behaviour = receiver.behaviours.get(self.path, Behaviour())
            with receiver.lock:  # recorded on arrival, before any deliberate slowness
                raw = list(self.headers.items())
                headers = {k.lower(): v for k, v in raw}
                receiver.received.append(Received(self.path, headers, body, time.time(), raw))
            if behaviour.delay_s:
                time.sleep(behaviour.delay_s)
            self.send(behaviour.status, b"ok")

    holder["r"] = Receiver(start_server(Handler, host=host, port=port))
    return holder["r"]


def start_file_server(files: dict[str, bytes]) -> Receiver:
    """Serves fixed bytes at fixed paths on loopback (for imageUrl), via the same Receiver."""
    holder: dict[str, Receiver] = {}

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send(200 if body is not None else 404, body or b"", {"content-type": "image/png"})

    holder["r"] = Receiver(start_server(Handler))
    return holder["r"]
