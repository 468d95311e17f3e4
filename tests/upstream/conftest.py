"""Fixtures for adapter tests: the simulator, scripted HTTP servers, and a scenario runner."""

import asyncio
import json
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from devtools.processes import Proc, free_port, http_ok
from simulator.control import control_headers
from tests.upstream.fake_server import FakeServer

RETIRED_MODEL = "veo-3.1-fast-generate-preview"  # the simulator answers 404 "no longer available"

T = TypeVar("T")
A = TypeVar("A", bound=Any)


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture
def other() -> Iterator[FakeServer]:
    """A second origin (another port), to redirect to."""
    server = FakeServer().start()
    yield server
    server.stop()


def run(adapter: A, scenario: Callable[[A], Awaitable[T]]) -> T:
    """Run `scenario(adapter)` in a fresh event loop and close the adapter's pool in that loop."""

    async def main() -> T:
        try:
            return await scenario(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(main())


@dataclass
class Sim:
    url: str
    port: int
    data_dir: Path
    control_token: str

    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        """A control endpoint's JSON answer (they need the simulator's token)."""
        headers = control_headers(self.control_token)
        return httpx.request(method, f"{self.url}{path}", headers=headers, **kwargs).json()

    def stats(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._control("GET", "/_sim/stats?prompts=0", timeout=5)
        return answer

    def calls(self, name: str) -> int:
        return int(self.stats()["calls"].get(name, 0))

    def operation(self, name: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._control("GET", f"/_sim/operations/{name}", timeout=5)
        return answer

    def service_account_info(self) -> dict[str, str]:
        """A fresh service account whose token_uri is this simulator's /token."""
        info: dict[str, str] = self._control("POST", "/_sim/service-account", json={}, timeout=30)
        return info

    def service_account(self, path: Path) -> Path:
        path.write_text(json.dumps(self.service_account_info()))
        return path


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """The simulator as a subprocess on a free port: fast clips, 0.2 s jobs, Retry-After 2."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("sim-data")
    argv = [
        sys.executable, "-m", "simulator", "--host", "127.0.0.1",
        "--port", str(port), "--data-dir", str(data_dir), "--latency", "0.2", "--jitter", "0",
        "--render", "fast", "--retired-models", RETIRED_MODEL, "--retry-after", "2",
    ]  # fmt: skip
    token = secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEO_")}
    env["VEO_SIMULATOR_CONTROL_TOKEN"] = token
    proc = Proc("simulator", argv, env, tmp_path_factory.mktemp("sim-logs")).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(f"{url}/_sim/health"), timeout_s=30)
    yield Sim(url, port, data_dir, token)
    proc.stop()
