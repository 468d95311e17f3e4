"""Chaos: jobs through the real stack while workers are SIGKILLed, Redis comes back empty, the
webhook receiver goes away and the database refuses connections. Nothing may be lost, submitted
twice, charged wrongly or left unannounced.

The short run is part of every `pytest`; the full run (>= 500 jobs) is `make chaos`
(`VEO_TEST_CHAOS=full`). Both print a table of what was done and what was found.
"""

import os
from pathlib import Path

import psycopg
import pytest

from tests.chaos.checks import Report, assert_clean
from tests.chaos.harness import run_chaos
from tests.conftest import CI, SKIPPED_SERVICES, TEST_PG_URL

pytestmark = pytest.mark.e2e

FULL = os.environ.get("VEO_TEST_CHAOS", "").lower() == "full"
# A run prints its seed; VEO_TEST_CHAOS_SEED=N replays the same fates and fault schedule.
SEED = int(os.environ["VEO_TEST_CHAOS_SEED"]) if os.environ.get("VEO_TEST_CHAOS_SEED") else None


def require_postgres() -> None:
    try:
        psycopg.connect(TEST_PG_URL, connect_timeout=2).close()
    except psycopg.Error:
        message = f"PostgreSQL not answering at {TEST_PG_URL}: the chaos run was SKIPPED"
        if CI:
            pytest.fail(message)
        SKIPPED_SERVICES.append(message)
        pytest.skip(message)


def _show(capsys: pytest.CaptureFixture[str], title: str, report: Report) -> None:
    with capsys.disabled():
        print("\n" + report.table(title))
        for line in report.problems:
            print("  " + line)


@pytest.mark.timeout(150)
def test_short_chaos_run_loses_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_postgres()
    report, logs = run_chaos(
        tmp_path, jobs=60, spread_s=6, window_s=14, rounds=1, drain_timeout_s=75, seed=SEED
    )
    _show(capsys, "chaos (short)", report)
    assert_clean(report, logs)


@pytest.mark.timeout(1500)
@pytest.mark.skipif(not FULL, reason="the full chaos run is `make chaos` (VEO_TEST_CHAOS=full)")
def test_full_chaos_run_loses_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_postgres()
    jobs = int(os.environ.get("VEO_TEST_CHAOS_JOBS", "500"))
    report, logs = run_chaos(
        tmp_path,
        jobs=jobs,
        spread_s=jobs / 12,
        window_s=jobs / 8,
        rounds=3,
        drain_timeout_s=600,
        seed=SEED,
    )
    _show(capsys, f"chaos (full, {jobs} jobs)", report)
    assert_clean(report, logs)
