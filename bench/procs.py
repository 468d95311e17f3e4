"""Child processes for the benchmark: start, wait for a condition, measure, stop."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    condition: Callable[[], object], *, timeout_s: float = 30.0, interval_s: float = 0.05, what: str
) -> object:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:
            last = exc
        else:
            if value:
                return value
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what} ({last!r})")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


class Proc:
    """A child in its own process group, its output in `<log_dir>/<name>.log`."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log_dir: Path, cwd: Path
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> "Proc":
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def _tree(self) -> list[psutil.Process]:
        """The process and all its live descendants (a Celery worker and its pool)."""
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def tree_rss_bytes(self) -> int:
        """RSS of the process and all its descendants."""
        total = 0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def tree_cpu_s(self) -> float:
        """User+system CPU seconds used so far by the process and its live descendants."""
        total = 0.0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM to the main process (Celery and uvicorn shut their children down), then kill."""
        if self.popen is None:
            return
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout_s)
        # Whatever is left of the group (a pool child that outlived its parent) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


class Spy:
    """py-spy attached to some processes while a block runs, if BENCH_PYSPY_DIR is set.

    Writes collapsed stacks (<dir>/<label>-<proc>.txt; summarise with bench/flame_top.py).
    py-spy is not a dependency: `.venv/bin/pip install py-spy`.
    """

    def __init__(self, label: str, procs: list["Proc"]) -> None:
        self.label = label
        self.procs = procs
        self.spies: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> "Spy":
        out = os.environ.get("BENCH_PYSPY_DIR")
        if not out:
            return self
        Path(out).mkdir(parents=True, exist_ok=True)
        exe = Path(os.environ.get("BENCH_PYSPY", "py-spy"))
        for proc in self.procs:
            target = Path(out) / f"{self.label}-{proc.name}.txt"
            argv = [str(exe), "record", "--pid", str(proc.pid), "--subprocesses", "--rate", "100",
                    "--nonblocking", "--format", "raw", "-o", str(target)]  # fmt: skip
            if os.environ.get("BENCH_PYSPY_GIL"):
                argv.append("--gil")
            self.spies.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        return self

    def __exit__(self, *_: object) -> None:
        for spy in self.spies:
            spy.send_signal(signal.SIGINT)
        for spy in self.spies:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(timeout=30)
