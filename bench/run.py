"""The benchmark suite: `make bench`, or `.venv/bin/python bench/run.py [--quick] [...]`.

Starts real processes (gateway, Celery workers, beat, the upstream simulator, a webhook
receiver) on their own databases and Redis key prefixes, loads them from a separate process,
and prints one table: every figure beside its target, every ratio against a baseline measured in
the same run. Results go to bench/results/<timestamp>.json. See bench/README.md.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.chdir(REPO)

from rich.console import Console  # noqa: E402

from bench import environment, report, targets  # noqa: E402
from bench.common import Config  # noqa: E402
from bench.loadgen import choose_tool  # noqa: E402
from bench.stack import PG_ADMIN_URL, REDIS_URL, RunContext  # noqa: E402
from devtools.processes import postgres_answers, redis_answers  # noqa: E402

SECTIONS = ("gateway", "pipeline", "inflight", "latency", "rate", "waiters", "ttr")
BACKENDS = ("postgres", "sqlite")
console = Console(stderr=True)


def log(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}", highlight=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (about 3 min)")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (latency = detection lag + webhooks;"
        " ttr = time to result: push, predictive and geometric polling side by side)",
    )
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="postgres,sqlite (PostgreSQL is primary)"
    )
    parser.add_argument("--inflight", type=int, help="jobs in flight for section 3 (default 10000)")
    parser.add_argument("--inflight-observe", type=float, help="seconds to observe section 3")
    parser.add_argument("--waiters", type=int, help="waiting requests for section 7 (default 2000)")
    parser.add_argument("--duration", type=float, help="seconds per HTTP load run (default 8)")
    parser.add_argument("--reps", type=int, help="repetitions of each HTTP load run (default 3)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--gateway-workers", type=int, default=1, help="uvicorn --workers for gateway and bare app"
    )
    parser.add_argument("--loadgen", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="VEO_X=Y",
        help="a setting for every process of every stack (repeatable), e.g. VEO_POLL_TICK_S=0.5",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs) afterwards")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    cfg = Config.quick_config() if args.quick else Config()
    cfg.connections = args.connections
    cfg.loadgen = choose_tool(args.loadgen)
    for flag, attr in (
        ("inflight", "inflight"),
        ("inflight_observe", "inflight_observe_s"),
        ("duration", "duration_s"),
        ("reps", "reps"),
        ("waiters", "waiters"),
    ):
        value = getattr(args, flag)
        if value is not None:
            setattr(cfg, attr, value)
    return cfg


def section_runner(name: str) -> Callable[..., dict[str, Any]]:
    from bench import gateway, inflight, latency, pipeline, time_to_result, upstream_rate, waiters

    return {
        "gateway": gateway.run,
        "pipeline": pipeline.run,
        "inflight": inflight.run,
        "latency": latency.run,
        "rate": upstream_rate.run,
        "waiters": waiters.run,
        "ttr": time_to_result.run,
    }[name]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [s for s in sections if s not in SECTIONS] + [
        b for b in backends if b not in BACKENDS
    ]
    if unknown:
        console.print(f"[red]unknown section/backend: {', '.join(unknown)}[/red]")
        return 2
    cfg = build_config(args)
    started = time.monotonic()
    work_dir = Path(tempfile.mkdtemp(prefix="veo-bench-"))
    notes: list[str] = []

    embedded = None
    redis_url = REDIS_URL
    if not redis_answers(redis_url):
        from devtools.embedded_redis import EmbeddedRedis
        from devtools.processes import free_port

        embedded = EmbeddedRedis(free_port(), work_dir / "redis").start()
        redis_url = f"{embedded.url}/0" if not embedded.url.endswith("/0") else embedded.url
        notes.append(f"no Redis at {REDIS_URL}: used an embedded one ({redis_url})")
    if "postgres" in backends and not postgres_answers(PG_ADMIN_URL):
        backends.remove("postgres")
        notes.append("PostgreSQL is not answering: its column is empty (SQLite only)")
        log("[red]PostgreSQL is not answering: SQLite only[/red]")

    extra_env = dict(item.split("=", 1) for item in args.set)
    if extra_env:
        notes.append("settings: " + " ".join(f"{k}={v}" for k, v in extra_env.items()))
    ctx = RunContext(
        work_dir=work_dir,
        redis_url=redis_url,
        gateway_workers=args.gateway_workers,
        extra_env=extra_env,
    )
    results: dict[str, dict[str, Any]] = {b: {} for b in backends}
    errors: list[str] = []
    log(f"work dir {work_dir}; load generator: {cfg.loadgen}")
    log(f"sections {sections}; backends {backends}")
    try:
        for section in sections:
            for backend in backends:
                log(f"[bold]{section}[/bold] on {backend}")
                t0 = time.monotonic()
                try:
                    results[backend][section] = section_runner(section)(ctx, backend, cfg, log)
                except Exception as exc:
                    errors.append(f"{section}/{backend}: {exc!r}")
                    log(f"[red]{section} on {backend} failed[/red]: {exc}")
                    traceback.print_exc(file=sys.stderr)
                    results[backend][section] = {"error": repr(exc)}
                results[backend][section]["elapsed_s"] = round(time.monotonic() - t0, 1)
    finally:
        ctx.close()
        if embedded is not None:
            embedded.stop()

    document = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - started, 1),
        "quick": cfg.quick,
        "config": cfg.__dict__,
        "gateway_workers": args.gateway_workers,
        "settings": extra_env,
        "load_generator": cfg.loadgen,
        "versions": environment.versions(redis_url),
        "machine": environment.machine(),
        "notes": notes,
        "errors": errors,
        "results": results,
    }
    document["verdicts"] = targets.verdicts(results)
    args.out.mkdir(parents=True, exist_ok=True)
    out_file = args.out / f"{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.json"
    out_file.write_text(json.dumps(document, indent=2, default=str))
    Console(width=int(os.environ.get("COLUMNS", "0")) or 150).print(report.table(document))
    console.print(
        f"results: {out_file.relative_to(REPO) if out_file.is_relative_to(REPO) else out_file}"
    )
    if args.keep or errors:
        console.print(f"logs kept in {work_dir / 'logs'}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    console.print(f"total {time.monotonic() - started:.0f} s on {platform.node()}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
