"""Section 1: the gateway under 32 connections, against a bare FastAPI endpoint.

The gateway, the bare app and the floor app (bench/floor_app.py: our app, authentication and
nothing else) run side by side with the same uvicorn command line; each repetition measures
bare, floor, submit and status back to back, so every ratio compares figures taken within
seconds of each other. No worker runs: submit's messages wait in Redis.
"""

import json
import statistics
from typing import Any

import httpx

from bench.common import Config, insert_processing_jobs
from bench.loadgen import LoadResult, LoadSpec, run_load
from bench.stack import RunContext, Stack, uvicorn_argv
from bench.stats import summary
from devtools.processes import free_port, http_ok

SUBMIT_BODY = {
    "generationType": "text_to_video",
    "prompt": "a red fox in the snow",
    "aspectRatio": "16:9",
}


def run(ctx: RunContext, backend: str, cfg: Config, log: Any) -> dict[str, Any]:
    with Stack(ctx, backend, "gateway") as stack:
        bare_port = free_port()
        bare_url = f"http://127.0.0.1:{bare_port}"
        bare = stack.start(
            "bare",
            uvicorn_argv("bench.bare_app:app", bare_port, ctx.gateway_workers),
            lambda _: http_ok(f"{bare_url}/bare"),
        )
        gateway = stack.start_gateway()
        servers = {"bare": bare, "submit": gateway, "status": gateway}
        # The floor involves no database: measured with the first backend only.
        floor_url = ""
        if ctx.shared.setdefault("gateway_floor_backend", backend) == backend:
            floor_port = free_port()
            floor_url = f"http://127.0.0.1:{floor_port}"
            servers["floor"] = stack.start(
                "floor",
                uvicorn_argv("bench.floor_app:app", floor_port, ctx.gateway_workers),
                lambda _: http_ok(f"{floor_url}/api/health"),
            )
        account_id, key = stack.create_account(credits=10**12, rate_limit=10**9)
        headers = {"Authorization": f"Bearer {key}"}
        operations = [
            f"models/veo-3.1-generate-preview/operations/bench{i:08d}"
            for i in range(cfg.status_jobs)
        ]
        ids = insert_processing_jobs(
            stack, account_id, operations, first_due_s=86400, spread_s=3600, poll_count=0
        )
        _check(stack.gateway_url, headers, ids[0])
        _mirror(stack.gateway_url, headers, ids)
        specs = {
            "bare": LoadSpec(bare_url, ["/bare"]),
            "floor": LoadSpec(floor_url, ["/floor"], headers=headers),
            "submit": LoadSpec(
                stack.gateway_url,
                ["/api/generate-video"],
                method="POST",
                body=json.dumps(SUBMIT_BODY),
                headers={**headers, "Content-Type": "application/json"},
            ),
            "status": LoadSpec(
                stack.gateway_url, [f"/api/video-status/{i}" for i in ids], headers=headers
            ),
        }
        specs = {name: spec for name, spec in specs.items() if name in servers}
        for spec in specs.values():
            spec.connections = cfg.connections
        results: dict[str, list[LoadResult]] = {name: [] for name in specs}
        cpu_ms: dict[str, list[float]] = {name: [] for name in specs}
        for spec in specs.values():  # warm-up: connections, caches, JIT-free but lazy imports
            warm = LoadSpec(**{**spec.__dict__, "duration_s": cfg.warmup_s})
            run_load(warm, cfg.loadgen)
        for rep in range(cfg.reps):
            for name, spec in specs.items():
                spec.duration_s = cfg.duration_s
                cpu_before = servers[name].tree_cpu_s()
                result = run_load(spec, cfg.loadgen)
                cpu_ms[name].append(
                    1000 * (servers[name].tree_cpu_s() - cpu_before) / max(result.requests, 1)
                )
                results[name].append(result)
                log(
                    f"  gateway[{backend}] rep {rep + 1}/{cfg.reps} {name:6s} "
                    f"{result.rps:8.0f} req/s  p50 {result.p50_ms:6.1f} ms  "
                    f"p99 {result.p99_ms:6.1f} ms  errors {result.errors}  "
                    f"server CPU {cpu_ms[name][-1]:.2f} ms/req"
                )
    out = _summarise(results)
    for name, values in cpu_ms.items():
        out[name]["server_cpu_ms_per_req"] = summary(values)
    return out


def _check(base_url: str, headers: dict[str, str], job_id: str) -> None:
    """One real request of each kind, so a broken setup fails loudly instead of measuring 4xx."""
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        submitted = client.post("/api/generate-video", json=SUBMIT_BODY).json()
        status = client.get(f"/api/video-status/{job_id}").json()
    if submitted.get("code") != 0 or status.get("code") != 0:
        raise RuntimeError(f"gateway check failed: submit {submitted}, status {status}")


def _mirror(base_url: str, headers: dict[str, str], job_ids: list[str]) -> None:
    """Read each job once, so its status is mirrored in Redis as a worker's move to processing
    would have left it (these rows were inserted directly, not moved by a worker)."""
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        for job_id in job_ids:
            client.get(f"/api/video-status/{job_id}").raise_for_status()


def _summarise(results: dict[str, list[LoadResult]]) -> dict[str, Any]:
    out: dict[str, Any] = {"tool": results["bare"][0].tool, "runs": {}}
    for name, runs in results.items():
        out["runs"][name] = [r.as_dict() for r in runs]
        out[name] = {
            "rps": summary([r.rps for r in runs]),
            "p50_ms": summary([r.p50_ms for r in runs]),
            "p99_ms": summary([r.p99_ms for r in runs]),
            "errors": sum(r.errors for r in runs),
            "requests": sum(r.requests for r in runs),
        }
    for name in ("floor", "submit", "status"):
        if name not in results:
            continue
        ratios = [r.rps / b.rps for r, b in zip(results[name], results["bare"], strict=True)]
        out[name]["ratio_vs_bare"] = summary(ratios)
        out[name]["ratio_median"] = statistics.median(ratios)
    return out
