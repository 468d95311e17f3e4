"""HTTP load in a separate process: `wrk` when installed, else an async httpx generator.

Both run closed-loop with a fixed number of keep-alive connections for a fixed time and report
requests/s, p50/p99 latency and errors (socket errors and non-2xx answers). The httpx generator
runs as `python -m bench.loadgen ...` in its own process; it tops out at a few thousand req/s
per core, far below wrk, so with it the bare baseline is bounded by the generator (the report
says which generator was used).
"""

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.stats import percentile

WRK_THREADS = 2


@dataclass
class LoadSpec:
    url: str  # base URL, e.g. http://127.0.0.1:8000
    paths: list[str]  # one or many (round-robin from a random start per connection)
    method: str = "GET"
    body: str | None = None
    headers: dict[str, str] | None = None
    connections: int = 32
    duration_s: float = 10.0


@dataclass
class LoadResult:
    tool: str
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors, timeouts and non-2xx/3xx answers

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def choose_tool(wanted: str = "auto") -> str:
    if wanted == "auto":
        return "wrk" if shutil.which("wrk") else "httpx"
    if wanted == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--loadgen wrk: wrk is not installed (apt-get install wrk)")
    return wanted


def run_load(spec: LoadSpec, tool: str) -> LoadResult:
    return _run_wrk(spec) if tool == "wrk" else _run_httpx(spec)


# --- wrk ---------------------------------------------------------------------------------------
def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


_WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON {\"requests\":%d,\"duration_us\":%d,\"errors\":%d,\"p50_us\":%d,\"p99_us\":%d}\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _wrk_script(spec: LoadSpec, paths_file: Path) -> str:
    lines = [f"wrk.method = {_lua_string(spec.method)}"]
    if spec.body is not None:
        lines.append(f"wrk.body = {_lua_string(spec.body)}")
    for name, value in (spec.headers or {}).items():
        lines.append(f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}")
    if len(spec.paths) > 1:
        lines += [
            "local paths = {}",
            f"for line in io.lines({_lua_string(str(paths_file))}) do paths[#paths + 1] = line end",
            "local i = 0",
            "local threads = 0",
            "setup = function(thread) threads = threads + 1 thread:set('tid', threads) end",
            "init = function(args) i = ((tid or 1) * 7919) % #paths end",
            "request = function() i = (i % #paths) + 1 return wrk.format(nil, paths[i]) end",
        ]
    lines.append(_WRK_DONE)
    return "\n".join(lines)


def _run_wrk(spec: LoadSpec) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="veo-bench-wrk-") as tmp:
        paths_file = Path(tmp) / "paths.txt"
        paths_file.write_text("\n".join(spec.paths) + "\n")
        script = Path(tmp) / "script.lua"
        script.write_text(_wrk_script(spec, paths_file))
        duration = max(1, round(spec.duration_s))
        argv = [
            "wrk", f"-t{min(WRK_THREADS, spec.connections)}", f"-c{spec.connections}",
            f"-d{duration}s", "--timeout", "10s", "-s", str(script), spec.url + spec.paths[0],
        ]  # fmt: skip
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=duration + 60, check=False
        )
    match = re.search(r"^BENCHJSON (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    return LoadResult(
        tool="wrk",
        requests=data["requests"],
        duration_s=round(seconds, 3),
        rps=data["requests"] / seconds,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["errors"],
    )


# --- httpx, in its own process -----------------------------------------------------------------
def _run_httpx(spec: LoadSpec) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(asdict(spec), handle)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", handle.name],
            capture_output=True,
            text=True,
            timeout=spec.duration_s + 60,
            cwd=Path(__file__).resolve().parent.parent,
            check=False,
        )
    finally:
        Path(handle.name).unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"httpx load generator failed:\n{done.stdout}\n{done.stderr}")
    return LoadResult(**json.loads(done.stdout.strip().splitlines()[-1]))


async def _generate(spec: LoadSpec) -> LoadResult:
    import contextlib
    import random

    import httpx

    # One client (and pool) per connection: httpcore scans its whole pool on every request, so
    # one shared pool of 32 connections made this generator slower than the server it loads.
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    ssl_context = httpx.create_ssl_context()  # built once, not once per client
    latencies: list[float] = []
    errors = 0
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=spec.url,
                    limits=one,
                    timeout=10.0,
                    headers=spec.headers or {},
                    verify=ssl_context,
                )
            )
            for _ in range(spec.connections)
        ]
        content = spec.body.encode() if spec.body is not None else None
        started = time.perf_counter()
        deadline = started + spec.duration_s

        async def connection(client: httpx.AsyncClient) -> None:
            nonlocal errors
            i = random.randrange(len(spec.paths))
            while time.perf_counter() < deadline:
                i = (i + 1) % len(spec.paths)
                t0 = time.perf_counter()
                try:
                    response = await client.request(spec.method, spec.paths[i], content=content)
                    ok = response.status_code < 400
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        await asyncio.gather(*(connection(client) for client in clients))
        elapsed = time.perf_counter() - started
    return LoadResult(
        tool="httpx",
        requests=len(latencies),
        duration_s=round(elapsed, 3),
        rps=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=errors,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="async httpx load generator (one process)")
    parser.add_argument("spec", type=Path, help="JSON of a LoadSpec")
    spec = LoadSpec(**json.loads(parser.parse_args().spec.read_text()))
    # httpcore tries `import sniffio` on every request; it is not installed (anyio 4 dropped it),
    # and a failed import searches sys.path each time. None in sys.modules fails it at once,
    # with the same outcome (asyncio). Only in this generator process.
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asdict(asyncio.run(_generate(spec)))))


if __name__ == "__main__":
    main()
