"""Measuring the benchmark's child processes: CPU and RSS over a process tree, py-spy stacks.

Starting, waiting for and stopping them is devtools.processes, shared with the test suite.
"""

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import psutil

from devtools.processes import Proc


class MeasuredProc(Proc):
    """A benchmark child whose CPU time and memory are read over its whole process tree."""

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


class Spy:
    """py-spy attached to some processes while a block runs, if BENCH_PYSPY_DIR is set.

    Writes collapsed stacks (<dir>/<label>-<proc>.txt; summarise with bench/flame_top.py).
    py-spy is not a dependency: `.venv/bin/pip install py-spy`.
    """

    def __init__(self, label: str, procs: list[Proc]) -> None:
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
