"""Fixtures: the simulator as a real subprocess on a free loopback port, torn down after use."""

import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devtools.processes import Proc, free_port, http_ok
from simulator.control import control_headers

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SimProcess:
    url: str
    port: int
    data_dir: Path
    proc: Proc
    control_token: str

    def client(self, **kwargs: object) -> httpx.Client:
        """A client carrying the control token (the protocol routes ignore it)."""
        kwargs.setdefault("headers", control_headers(self.control_token))
        return httpx.Client(base_url=self.url, timeout=10.0, **kwargs)  # type: ignore[arg-type]


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
        "--video-size",  # as rendered: tests read many videos (a test asks for "real" itself)
        "small",
        *extra,
    ]


def start_simulator(data_dir: Path, *extra: str) -> SimProcess:
    """Start a simulator and wait until /_sim/health answers (a polled condition, not a sleep)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_urlsafe(16)
    argv = simulator_command(port, data_dir, *extra)
    env = {**os.environ, "VEO_SIMULATOR_CONTROL_TOKEN": token}
    proc = Proc(f"simulator-{port}", argv, env, data_dir, cwd=REPO_ROOT).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(f"{url}/_sim/health"), timeout_s=15, interval_s=0.02)
    return SimProcess(url, port, data_dir, proc, token)


def stop_simulator(sim: SimProcess) -> None:
    sim.proc.stop(timeout_s=5)


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
