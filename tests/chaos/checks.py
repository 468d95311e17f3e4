"""What must hold after a chaos run: nothing lost, nothing charged twice, no duplicate
upstream submission outside the documented window, every webhook delivered and signed."""

import time
from collections import Counter, defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
from standardwebhooks import Webhook

from devtools.processes import wait_for
from tests.chaos.chaos_stack import ChaosStack
from tests.chaos.fates import CREDITS_PER_JOB, Submitted
from tests.chaos.faults import ChaosLog

# --- the checks ---------------------------------------------------------------------------------


@dataclass
class Report:
    jobs: int = 0
    kills: int = 0
    crashes: int = 0
    redis_restarts: int = 0
    receiver_outages: int = 0
    db_outages: int = 0
    faults_random: int = 0
    faults_directive: int = 0
    lost: int = 0
    wrong_state: int = 0
    not_terminal: int = 0
    duplicates: int = 0  # submitted upstream twice, NOT explained by the documented window
    duplicates_documented: int = 0  # SIGKILL between upstream accept and our commit
    ledger_errors: int = 0
    negative_balances: int = 0
    webhooks_missing: int = 0
    webhook_id_unstable: int = 0
    webhook_bad_signature: int = 0
    secrets_in_logs: int = 0
    create_retries: int = 0
    drain_s: float = 0.0
    total_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    def table(self, title: str, extra: list[tuple[str, object]] | None = None) -> str:
        """The figures as a two-column table; `extra` rows (a run's own faults) go before the
        totals."""
        rows: list[tuple[str, object]] = [
            ("jobs", self.jobs),
            ("worker kills (SIGKILL)", self.kills),
            ("worker crashes, restarted by supervisor", self.crashes),
            ("redis restarts (empty)", self.redis_restarts),
            ("receiver outages", self.receiver_outages),
            ("database outages", self.db_outages),
            ("upstream faults injected (random)", self.faults_random),
            ("upstream faults injected (directive)", self.faults_directive),
            ("create retries (client side)", self.create_retries),
            ("jobs lost", self.lost),
            ("jobs not terminal", self.not_terminal),
            ("jobs in the wrong state", self.wrong_state),
            ("duplicate submissions", self.duplicates),
            ("duplicates in the documented window", self.duplicates_documented),
            ("ledger errors", self.ledger_errors),
            ("balances below zero", self.negative_balances),
            ("terminal webhooks never delivered", self.webhooks_missing),
            ("webhook-ids not stable", self.webhook_id_unstable),
            ("webhook signatures invalid", self.webhook_bad_signature),
            ("API keys / webhook secrets in logs", self.secrets_in_logs),
            *(extra or []),
            ("time to drain after the last fault (s)", f"{self.drain_s:.1f}"),
            ("total run time (s)", f"{self.total_s:.1f}"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"{title}", "-" * (width + 12)]
        lines += [f"{name:<{width}}  {value!s:>8}" for name, value in rows]
        return "\n".join(lines)


def assert_clean(report: Report, logs: str) -> None:
    """What every chaos run must show: nothing lost, stuck, wrong, doubled or unannounced."""
    assert report.lost == 0, report.problems
    assert report.not_terminal == 0, (report.problems, logs)
    assert report.wrong_state == 0, report.problems
    assert report.duplicates == 0, report.problems
    assert report.ledger_errors == 0, report.problems
    assert report.negative_balances == 0, report.problems
    assert report.webhooks_missing == 0, (report.problems, logs)
    assert report.webhook_id_unstable == 0, report.problems
    assert report.webhook_bad_signature == 0, report.problems
    assert report.secrets_in_logs == 0, report.problems


def job_rows(chaos: ChaosStack) -> dict[str, dict[str, Any]]:
    rows = chaos.sql(
        "SELECT id, status, error_code, upstream_operation, submit_attempts, credits_charged,"
        " account_id FROM jobs"
    )
    keys = ("id", "status", "error_code", "operation", "attempts", "charged", "account_id")
    return {row[0]: dict(zip(keys, row, strict=True)) for row in rows}


def wait_drained(chaos: ChaosStack, jobs: list[Submitted], timeout_s: float) -> float:
    """Seconds until every job is terminal and every terminal event delivered (or the timeout)."""
    start = time.monotonic()
    uuids = {job.uuid for job in jobs}

    def drained() -> bool:
        rows = chaos.sql(
            "SELECT count(*) FROM jobs WHERE id = ANY(%s) AND status IN ('completed','failed')",
            (list(uuids),),
        )
        if rows[0][0] != len(uuids):
            return False
        pending = chaos.sql(
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
            " AND event_type IN ('video.completed','video.failed')"
        )
        return pending[0][0] == 0

    with suppress(TimeoutError):
        wait_for(drained, timeout_s=timeout_s, interval_s=0.5, what="the stack to drain")
    return time.monotonic() - start


def _simulator(chaos: ChaosStack, path: str, **params: str) -> Any:
    url, headers = f"{chaos.simulator_url}{path}", chaos.stack.simulator_headers
    return httpx.get(url, params=params, headers=headers, timeout=10).json()


def verify(chaos: ChaosStack, jobs: list[Submitted], log: ChaosLog, report: Report) -> Report:
    """Every check of the brief; each problem is counted and described in `report.problems`."""
    rows = job_rows(chaos)
    report.jobs = len(jobs)
    report.kills = len(log.kills)
    report.crashes = len(log.crashes)
    for at, name, tail in log.crashes:
        last = tail.strip().splitlines()[-1:] or [""]
        report.problems.append(f"crash (restarted): {name} at {at:.1f}: {last[0][:160]}")
    report.redis_restarts = len(log.redis_restarts)
    report.receiver_outages = len(log.receiver_outages)
    report.db_outages = len(log.db_outages)
    report.create_retries = sum(job.tries - 1 for job in jobs)
    stats = _simulator(chaos, "/_sim/stats")
    report.faults_random = int(stats["faults_by_source"].get("random", 0))
    report.faults_directive = int(stats["faults_by_source"].get("directive", 0))
    accepted = stats["submissions"]["by_prompt"]

    # One job per Idempotency-Key, and every job the API answered 0 for exists.
    if len({job.uuid for job in jobs}) != len(jobs):
        report.problems.append("two indexes share a job uuid")
    for job in jobs:
        row = rows.get(job.uuid)
        if row is None:
            report.lost += 1
            report.problems.append(f"LOST job {job.index} {job.uuid}")
            continue
        if row["status"] not in ("completed", "failed"):
            report.not_terminal += 1
            report.problems.append(f"not terminal: job {job.index} {row}")
            continue
        if row["status"] != job.fate.status or (
            job.fate.error_code and row["error_code"] != job.fate.error_code
        ):
            report.wrong_state += 1
            report.problems.append(f"wrong state: job {job.index} fate {job.fate.name}: {row}")
        count = int(accepted.get(job.prompt, 0))
        if count > job.fate.accepted:
            _attribute_duplicate(chaos, job, row, log, report)
        elif count < job.fate.accepted:
            report.problems.append(f"never accepted upstream: job {job.index} {row}")
            report.wrong_state += 1
    _check_ledger(chaos, jobs, rows, report)
    _check_webhooks(chaos, jobs, rows, report)
    _check_logs(chaos, report)
    return report


def _check_logs(chaos: ChaosStack, report: Report) -> None:
    """No API key and no webhook signing secret in any process log."""
    needles = [a["api_key"] for a in chaos.accounts] + [a["webhook_secret"] for a in chaos.accounts]
    for path in chaos.stack.log_dir.glob("*.log"):
        text = path.read_text(errors="replace")
        for needle in needles:
            if needle in text:
                report.secrets_in_logs += 1
                report.problems.append(f"{path.name} contains {needle[:10]}...")


def _attribute_duplicate(
    chaos: ChaosStack, job: Submitted, row: dict[str, Any], log: ChaosLog, report: Report
) -> None:
    """A second submission is the documented exception only if a kill landed right after an
    orphaned operation was created (the upstream accepted, our commit never happened)."""
    names = _simulator(chaos, "/_sim/submissions", prompt=job.prompt)["operations"]
    orphans = [name for name in names if name != row["operation"]]
    explained = True
    detail = []
    for name in orphans:
        created = float(_simulator(chaos, f"/_sim/operations/{name}")["created_at"])
        db = next((o for o in log.db_outages if o[0] - 2.0 <= created <= o[1]), None)
        # The name is stored within ~2 s, or, while the database is down, retried until it is
        # back (worker/tasks/submit.py): a kill until then loses it.
        stored_by = created + 2.0 if db is None else max(created, db[1]) + 2.0
        kill = next((k for k in log.kills if created <= k[0] <= stored_by), None)
        # A broker loss cancels running late-ack tasks (worker_cancel_long_running_tasks_on_
        # connection_loss) once the worker notices it: a submit whose upstream call was in flight
        # when Redis went away can create its operation just after the restart was logged.
        redis = next((t for t in log.redis_restarts if -2.0 <= t - created <= 2.0), None)
        # A cut connection is the window too: the answer never came back, or the commit could
        # not be made while the name was in hand (kept for STORE_OPERATION_FOR_S at most).
        cut = next((p for p in log.partitions if p[0] - 2.0 <= created <= p[1] + 2.0), None)
        detail.append(
            f"{name} created {created:.2f} kill={kill} redis={redis} db={db} partition={cut}"
        )
        if kill is None and redis is None and cut is None:
            explained = False  # only a kill, a broker loss or a cut connection is the window
    message = f"job {job.index} submitted {len(names)}x: {'; '.join(detail)}; row {row}"
    if explained:
        report.duplicates_documented += 1
        report.problems.append(f"documented-window duplicate: {message}")
    else:
        report.duplicates += 1
        report.problems.append(f"DUPLICATE: {message}")


def _check_ledger(
    chaos: ChaosStack, jobs: list[Submitted], rows: dict[str, dict[str, Any]], report: Report
) -> None:
    entries: dict[str, Counter[str]] = defaultdict(Counter)
    amounts: dict[str, Counter[str]] = defaultdict(Counter)
    for job_id, kind, amount in chaos.sql("SELECT job_id, kind, amount FROM ledger"):
        if job_id is not None:
            entries[job_id][kind] += 1
            amounts[job_id][kind] += amount
    for job in jobs:
        row = rows.get(job.uuid)
        if row is None or row["status"] not in ("completed", "failed"):
            continue
        kinds = entries[job.uuid]
        want_refund = 1 if row["status"] == "failed" else 0  # every chaos failure is refundable
        if kinds["debit"] != 1 or kinds["refund"] != want_refund:
            report.ledger_errors += 1
            report.problems.append(f"ledger of job {job.index}: {dict(kinds)} for {row}")
    for account in chaos.accounts:
        (balance,) = chaos.sql(
            "SELECT credits FROM accounts WHERE id = %s", (account["account_id"],)
        )[0]
        sums = dict(
            chaos.sql(
                "SELECT kind, sum(amount) FROM ledger WHERE account_id = %s GROUP BY kind",
                (account["account_id"],),
            )
        )
        grants, debits, refunds = (int(sums.get(k, 0)) for k in ("grant", "debit", "refund"))
        completed = sum(
            1
            for r in rows.values()
            if r["account_id"] == account["account_id"] and r["status"] == "completed"
        )
        if balance < 0:
            report.negative_balances += 1
        if balance != grants - debits + refunds or debits - refunds != CREDITS_PER_JOB * completed:
            report.ledger_errors += 1
            report.problems.append(
                f"account {account['account_id']}: credits {balance}, grants {grants},"
                f" debits {debits}, refunds {refunds}, completed {completed}"
            )


def _check_webhooks(
    chaos: ChaosStack, jobs: list[Submitted], rows: dict[str, dict[str, Any]], report: Report
) -> None:
    received = chaos.receiver.received()
    ids_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    events_of: dict[str, set[tuple[str, str]]] = defaultdict(set)
    secret_of = {a["account_id"]: a["webhook_secret"] for a in chaos.accounts}
    by_path = {f"/{job.webhook_path}": job for job in jobs}
    for item in received:
        job = by_path.get(item.path)
        if job is None:
            continue
        try:
            event = Webhook(secret_of[job.account["account_id"]]).verify(item.body, item.headers)
        except Exception:
            report.webhook_bad_signature += 1
            continue
        key = (job.uuid, str(event["type"]))
        ids_of[key].add(item.headers["webhook-id"])
        events_of[item.headers["webhook-id"]].add(key)
    report.webhook_id_unstable = sum(1 for ids in ids_of.values() if len(ids) > 1) + sum(
        1 for keys in events_of.values() if len(keys) > 1
    )
    for job in jobs:
        row = rows.get(job.uuid)
        if row is None or row["status"] not in ("completed", "failed"):
            continue
        if not ids_of.get((job.uuid, f"video.{row['status']}")):
            report.webhooks_missing += 1
            report.problems.append(f"no video.{row['status']} webhook for job {job.index}")
        other = "failed" if row["status"] == "completed" else "completed"
        if ids_of.get((job.uuid, f"video.{other}")):
            report.problems.append(f"job {job.index} also announced video.{other}")
            report.wrong_state += 1
