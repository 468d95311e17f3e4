"""A chaos run: a stack of its own (chaos_stack.py), jobs whose fates are known in advance
(fates.py), faults on a schedule drawn from the seed (faults.py), and the checks that follow
(checks.py).
"""

import random
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

from tests.chaos.chaos_stack import ChaosStack, chaos_stack
from tests.chaos.checks import Report, verify, wait_drained
from tests.chaos.fates import CREDITS_PER_JOB, draw_fates, submit_all
from tests.chaos.faults import Chaos, schedule


def run_chaos(
    tmp: Path,
    *,
    jobs: int,
    spread_s: float,
    window_s: float,
    rounds: int,
    drain_timeout_s: float,
    fault_rate: float = 0.1,
    seed: int | None = None,
) -> tuple[Report, str]:
    """The whole run: start the stack, create the jobs under fire, drain, check. (report, logs)"""
    seed = seed if seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    fates = draw_fates(jobs, rng)
    run_id = secrets.token_hex(3)
    accounts = 5
    credits_each = CREDITS_PER_JOB * (jobs // accounts + 2)
    began = time.monotonic()
    with chaos_stack(
        tmp, accounts=accounts, credits_each=credits_each, fault_rate=fault_rate, seed=seed
    ) as chaos:
        faults = Chaos(chaos, rng)
        stop = threading.Event()
        supervisor = faults.supervise(stop)
        thread = faults.run_schedule(schedule(faults, rng, window_s, rounds=rounds))
        submitted = submit_all(chaos, fates, run_id, spread_s=spread_s)
        thread.join(timeout=window_s + 60)
        report = Report()
        report.drain_s = wait_drained(chaos, submitted, drain_timeout_s)
        report.total_s = time.monotonic() - began
        stop.set()
        supervisor.join(timeout=5)
        verify(chaos, submitted, faults.log, report)
        report.problems[:0] = [f"chaos step error: {e}" for e in faults.log.errors]
        report.problems.insert(0, f"seed {seed}, run {run_id}")
        logs = ""
        if len(report.problems) > 1 + len(faults.log.crashes):
            logs = chaos.logs()
            report.problems.insert(1, f"logs kept in {keep_evidence(chaos, run_id)}")
    return report, logs


def keep_evidence(chaos: ChaosStack, run_id: str) -> Path:
    """Copy the process logs and the rows' state out of the test's temp dir, for a post-mortem."""
    target = Path(tempfile.gettempdir()) / f"veo-chaos-{run_id}"
    shutil.copytree(chaos.stack.log_dir, target, dirs_exist_ok=True)
    jobs = chaos.sql(
        "SELECT id, status, error_code, submit_attempts, upstream_operation, created_at,"
        " updated_at, submitted_at, processing_at, completed_at, failed_at FROM jobs"
    )
    deliveries = chaos.sql(
        "SELECT id, job_id, event_type, status, attempts, last_status_code, last_error,"
        " next_attempt_at, delivered_at, updated_at FROM webhook_deliveries"
    )
    (target / "jobs.txt").write_text("\n".join(map(str, jobs)))
    (target / "deliveries.txt").write_text("\n".join(map(str, deliveries)))
    return target
