"""Profile one gateway endpoint under the benchmark's load with py-spy (not a dependency:
`.venv/bin/pip install py-spy`). Writes a flame graph SVG and a "top functions" text summary.

    .venv/bin/python bench/profile.py status [--backend postgres] [--seconds 15]
    .venv/bin/python bench/profile.py submit
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import insert_processing_jobs  # noqa: E402
from bench.gateway import SUBMIT_BODY  # noqa: E402
from bench.loadgen import LoadSpec, choose_tool, run_load  # noqa: E402
from bench.stack import REDIS_URL, VENV_BIN, RunContext, Stack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint", choices=("status", "submit"))
    parser.add_argument("--backend", default="postgres", choices=("postgres", "sqlite"))
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--gateway-workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    if not Path(py_spy).exists():
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")
    ctx = RunContext(Path(tempfile.mkdtemp(prefix="veo-prof-")), REDIS_URL, args.gateway_workers)
    args.out.mkdir(parents=True, exist_ok=True)
    with Stack(ctx, args.backend, "profile") as stack:
        gateway = stack.start_gateway()
        account_id, key = stack.create_account(credits=10**12, rate_limit=10**9)
        headers = {"Authorization": f"Bearer {key}"}
        if args.endpoint == "status":
            ops = [f"models/veo-3.1-generate-preview/operations/p{i:08d}" for i in range(1000)]
            ids = insert_processing_jobs(
                stack, account_id, ops, first_due_s=86400, spread_s=1, poll_count=0
            )
            spec = LoadSpec(
                stack.gateway_url, [f"/api/video-status/{i}" for i in ids], headers=headers
            )
        else:
            spec = LoadSpec(
                stack.gateway_url,
                ["/api/generate-video"],
                method="POST",
                body=json.dumps(SUBMIT_BODY),
                headers={**headers, "Content-Type": "application/json"},
            )
        spec.duration_s = args.seconds + 4
        stem = args.out / f"profile-{args.endpoint}-{args.backend}"
        # py-spy on the serving process (uvicorn with --workers N: the workers are its children).
        spy = [
            py_spy,
            "record",
            "--pid",
            str(gateway.pid),
            "--subprocesses",
            "--duration",
            str(args.seconds),
            "--rate",
            "200",
            "--nonblocking",
            "--gil",
        ]  # fmt: skip  (--gil: only the thread holding the GIL, i.e. where the CPU goes)
        results: dict[str, object] = {}
        load = threading.Thread(target=lambda: results.update(r=run_load(spec, choose_tool())))
        load.start()
        subprocess.run([*spy, "--format", "flamegraph", "-o", f"{stem}.svg"], check=True)
        load.join()
        print(f"under profiling: {results['r']}")
        load = threading.Thread(target=lambda: results.update(r=run_load(spec, choose_tool())))
        load.start()
        subprocess.run([*spy, "--format", "raw", "-o", f"{stem}.txt"], check=True)
        load.join()
    print(f"flame graph {stem}.svg, collapsed stacks {stem}.txt; top frames:")
    from bench.flame_top import top

    for name, share in top(Path(f"{stem}.txt"), 45):
        print(f"{share:5.1f}%  {name}")


if __name__ == "__main__":
    main()
