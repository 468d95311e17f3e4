"""Network partitions: a worker host in a network namespace of its own is cut off from Redis,
PostgreSQL, the upstream and webhook receivers (link down, and every packet dropped so its
connections go half-open) while jobs flow, then healed. The checks of the chaos run hold, and
the cut-off worker works again within RECOVERY_BOUND_S of each heal.

The short run is part of every `pytest` where namespaces can be made (root and iproute2; under
`CI=true` it must run); the full run is `make chaos` (`VEO_TEST_CHAOS=full`).
"""

import os
import random
from pathlib import Path

import pytest

from tests.chaos.harness import assert_clean
from tests.chaos.netns import unavailable_reason
from tests.chaos.partition import (
    RECOVERY_BOUND_S,
    SHORT_PLAN,
    PartitionReport,
    full_plan,
    run_partition,
)
from tests.chaos.test_chaos import FULL, SEED, require_postgres
from tests.conftest import CI, SKIPPED_SERVICES

pytestmark = pytest.mark.e2e


def _require_namespaces() -> None:
    reason = unavailable_reason()
    if reason is None:
        return
    message = f"{reason}: the partition run was SKIPPED"
    if CI:
        pytest.fail(message)
    SKIPPED_SERVICES.append(message)
    pytest.skip(message)


def _check(
    report: PartitionReport, logs: str, capsys: pytest.CaptureFixture[str], title: str
) -> None:
    with capsys.disabled():
        print("\n" + report.partition_table(title))
        for line in report.problems:
            print("  " + line)
    assert_clean(report, logs)
    slowest = report.slowest_recovery_s
    assert slowest is not None, report.problems
    assert slowest <= RECOVERY_BOUND_S, report.problems
    # The cuts must have hit work in progress, or the run proved nothing.
    assert sum(sum(c.ns_tasks.values()) for c in report.cuts) > 0, report.problems


@pytest.mark.timeout(180)
def test_short_partition_run_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _require_namespaces()
    require_postgres()
    seed = SEED if SEED is not None else random.SystemRandom().randrange(1 << 30)
    report, logs = run_partition(tmp_path, jobs=80, plan=SHORT_PLAN, drain_timeout_s=90, seed=seed)
    _check(report, logs, capsys, "partitions (short)")
    assert len(report.cuts) == len(SHORT_PLAN)


@pytest.mark.timeout(1500)
@pytest.mark.skipif(not FULL, reason="the full partition run is `make chaos` (VEO_TEST_CHAOS=full)")
def test_full_partition_run_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _require_namespaces()
    require_postgres()
    seed = SEED if SEED is not None else random.SystemRandom().randrange(1 << 30)
    plan = full_plan(random.Random(seed))
    jobs = int(os.environ.get("VEO_TEST_CHAOS_JOBS", "400"))
    report, logs = run_partition(tmp_path, jobs=jobs, plan=plan, drain_timeout_s=600, seed=seed)
    _check(report, logs, capsys, f"partitions (full, {jobs} jobs)")
    assert len(report.cuts) == len(plan)
