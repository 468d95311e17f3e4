"""Smoke tests for the benchmark suite's own logic (no services; `make bench` runs it all)."""

# ruff: noqa: RUF001 - the table prints a times sign

import json
import sys
from pathlib import Path

import pytest

from bench import environment, report, targets
from bench.latency import nominal_interval_s
from bench.loadgen import LoadSpec, _generate, _wrk_script
from bench.stats import dist, percentile, summary
from tests.support.http_server import QuietHandler, base_url, start_server, stop_server

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0], 50, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([0.0, 10.0], 99, 9.9),
        (list(range(101)), 99, 99.0),
    ],
)
def test_percentile(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_summaries():
    assert summary([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert dist([1.0, 2.0])["max"] == 2.0


@pytest.mark.parametrize(
    ("polls", "expected"), [(0, 5.0), (1, 5.0), (2, 7.5), (3, 11.25), (6, 30.0), (20, 30.0)]
)
def test_nominal_poll_interval_follows_the_backoff(polls, expected):
    assert nominal_interval_s(polls, 5.0, 1.5, 30.0) == pytest.approx(expected)


def test_wrk_script_sets_method_body_headers_and_rotates_paths(tmp_path):
    spec = LoadSpec("http://127.0.0.1:1", ["/a", "/b"], method="POST", body='{"x":1}',
                    headers={"Authorization": "Bearer k"})  # fmt: skip
    script = _wrk_script(spec, tmp_path / "paths.txt")
    assert "wrk.method = [==[POST]==]" in script
    assert "wrk.headers[ [==[Authorization]==] ] = [==[Bearer k]==]" in script
    assert "request = function()" in script
    assert "BENCHJSON" in script


def test_httpx_generator_measures_a_real_server():
    """The fallback generator against a tiny in-process server: its counts are the server's own
    (how many fit in the window depends on the machine's load, so the test does not assume it)."""
    import asyncio
    from collections import Counter

    hits: Counter[str] = Counter()

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            hits[self.path] += 1
            ok = self.path == "/ok"
            self.send(200 if ok else 404, b"{}" if ok else b"no")

    server = start_server(Handler)
    spec = LoadSpec(base_url(server), ["/ok", "/missing"], connections=2, duration_s=0.5)
    try:
        result = asyncio.run(_generate(spec))
    finally:
        stop_server(server)
    assert result.requests == hits.total() >= spec.connections
    assert result.errors == hits["/missing"]  # the 404s, and only those
    assert result.p99_ms >= result.p50_ms > 0


def test_table_renders_every_verdict():
    results = {
        "postgres": {
            "gateway": {
                name: {"rps": summary([1000.0]), "p50_ms": summary([1.0]), "p99_ms": summary([5.0]),
                       "errors": 0, **({"ratio_median": 0.5} if name != "bare" else {})}
                for name in ("bare", "submit", "status")
            },
            "rate": {"ratio": 0.99, "bound_violations": 0, "sustained_per_min": 594,
                     "configured_per_min": 600, "accepted": 10, "submits_by_worker": [5, 5]},
            "waiters": {"waiters": 2000, "completed": 2000, "rss_bytes_per_waiter": 5120.0,
                        "start_cpu_ms_per_waiter": 0.3, "plain_status_cpu_ms_per_req": 0.2,
                        "hold_cpu_us_per_waiter_s": 1.0, "answer_cpu_ms_per_waiter": 0.17,
                        "answered_after_commit_s": dist([0.1, 0.2])},
        }
    }  # fmt: skip
    doc = {
        "results": results,
        "verdicts": targets.verdicts(results),
        "config": {"inflight": 10_000, "burst_jobs": 100, "rate_workers": 2, "waiters": 2000},
        "machine": environment.machine(),
        "versions": {"python": sys.version.split()[0]},
        "notes": [],
        "load_generator": "wrk",
        "gateway_workers": 1,
        "quick": True,
    }
    assert doc["verdicts"]["postgres"]["gateway.submit"] is True
    assert doc["verdicts"]["postgres"]["gateway.status"] is True
    assert doc["verdicts"]["postgres"]["rate"] is True
    assert doc["verdicts"]["postgres"]["pipeline"] is None
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(report.table(doc))
    text = console.export_text()
    assert "0.500× bare" in text
    assert "5.0 KiB RSS/waiter" in text
    json.dumps(doc, default=str)
