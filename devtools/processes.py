"""Child processes on this machine: start one, wait for a condition (never a fixed sleep), stop it.

The dev stack, the test suite and the benchmark all run the gateway, workers and simulator as
real processes; this is the one place that knows how. It imports neither pytest nor psutil, so
`bench/` can use it without the test suite, and the dev stack without the dev extras.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

import httpx
import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

VENV_BIN = Path(sys.executable).parent  # the console scripts beside the running interpreter


def free_port() -> int:
    """A loopback port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], object],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.05,
    what: str = "",
) -> object:
    """Poll `condition` until it returns something truthy; TimeoutError naming `what` otherwise.

    An exception from `condition` counts as "not yet" (a server still starting refuses
    connections); the last one is quoted in the timeout message.
    """
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:
            last_error = exc
        else:
            if value:
                return value
        time.sleep(interval_s)
    raise TimeoutError(
        f"timed out after {timeout_s}s waiting for {what or condition}: {last_error!r}"
    )


def http_ok(url: str) -> bool:
    """Whether a GET of `url` answers 200 within a second."""
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def redis_answers(url: str, timeout_s: float = 1.0) -> bool:
    """Whether a Redis-speaking server at `url` answers PING (not while it loads its AOF).

    One try, no retries: redis-py's default retry with backoff would turn each probe of a port
    that is not listening yet into seconds.
    """
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def postgres_answers(url: str) -> bool:
    """Whether a PostgreSQL server at `url` (a libpq URL) accepts a connection within 2 s."""
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def log_tail(path: Path, lines: int) -> str:
    """The last `lines` lines of a log file; empty if it does not exist (yet)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


class StartError(RuntimeError):
    """A process exited, or was not ready in time, while starting; the message ends with its log."""


class Proc:
    """A child in its own process group, its stdout and stderr in `<log_dir>/<name>.log`."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_dir: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603 - argv from our own callers, no shell
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(
        self, ready: Callable[[], object], *, timeout_s: float = 30.0, interval_s: float = 0.05
    ) -> Self:
        """Wait until `ready()` is truthy; if the process exits first or time runs out, kill it
        and raise StartError with the tail of its log."""
        try:
            wait_for(
                lambda: not self.alive() or ready(),
                timeout_s=timeout_s,
                interval_s=interval_s,
                what=f"{self.name} to start",
            )
        except TimeoutError as exc:
            problem = str(exc)
        else:
            if self.alive():
                return self
            problem = f"exited with {self.popen.returncode if self.popen else None}"
        self.kill()
        raise StartError(f"{self.name} did not start ({problem}):\n{self.tail()}")

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group (main process and its pool), as an OOM killer would."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM to the main process only (Celery and uvicorn shut their children down warmly);
        after `timeout_s`, or once it is gone, whatever is left of the group is killed."""
        if self.popen is None:
            return
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout_s)
        self.kill()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)
