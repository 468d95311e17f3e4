"""Fixtures: the simulator as a real subprocess on a free loopback port, torn down after use."""

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SimProcess:
    url: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0, **kwargs)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def simulator_command(port: int, data_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "simulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *extra,
    ]


def start_simulator(data_dir: Path, *extra: str) -> SimProcess:
    """Start a simulator and wait until /_sim/health answers (a polled condition, not a sleep)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = data_dir / f"simulator-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            simulator_command(port, data_dir, *extra),
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    sim = SimProcess(f"http://127.0.0.1:{port}", port, data_dir, process, log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"simulator exited early:\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{sim.url}/_sim/health", timeout=1).status_code == 200:
                return sim
        time.sleep(0.02)
    stop_simulator(sim)
    raise RuntimeError(f"simulator did not become healthy:\n{log.read_text()}")


def stop_simulator(sim: SimProcess) -> None:
    if sim.process.poll() is None:
        sim.process.terminate()
        try:
            sim.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            sim.process.kill()
            sim.process.wait(timeout=5)


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    process = start_simulator(
        tmp_path_factory.mktemp("sim-data"),
        "--latency",
        "0.2",
        "--jitter",
        "0",
        "--retired-models",
        "veo-3.0-generate-001, veo-2.0-generate-001",
        "--seed",
        "7",
    )
    yield process
    stop_simulator(process)


@pytest.fixture
def client(sim: SimProcess) -> Iterator[httpx.Client]:
    """A client on a freshly reset simulator (operations, counters and config back to start)."""
    with sim.client() as http:
        http.post("/_sim/reset").raise_for_status()
        yield http
