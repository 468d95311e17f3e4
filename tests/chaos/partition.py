"""The partition run: a worker host in a network namespace is cut off from Redis, PostgreSQL,
the upstream and webhook receivers, abruptly and half-open, while jobs flow; then the checks of
the chaos run, and how fast the cut-off worker came back.

The chaos stack (tests/chaos/chaos_stack.py) runs in this namespace with one generation worker and
one webhook worker; the namespaced host has another of each, which reaches every service over
its own veth pairs (tests/chaos/netns.py) and is cut by `Plan` steps. Each step's record says
what the namespaced worker was doing at that moment, read from its log.
"""

import random
import threading
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from devtools.processes import Proc, wait_for
from tests.chaos.chaos_stack import ChaosStack, chaos_stack
from tests.chaos.checks import Report, verify, wait_drained
from tests.chaos.fates import CREDITS_PER_JOB, FATES, Fate, draw_fates, submit_all
from tests.chaos.faults import Chaos
from tests.chaos.forwarder import Forwarder
from tests.chaos.harness import keep_evidence
from tests.chaos.netns import Cut, Route, WorkerHost, worker_host
from tests.chaos.tasklog import first_finished_after, running_at, task_events
from tests.conftest import TEST_PG_URL, Workers

# The namespaced worker runs a task again within this many seconds of the cut being healed
# (or, if it exited, its replacement does), for cuts of up to 20 s. What bounds it: a connection
# silenced by the cut resumes with TCP's next retransmission (its backoff grows with the cut's
# length) or is given up on (PostgreSQL: VEO_DB_DEAD_CONNECTION_S; Redis: the socket timeout, and
# kombu drops a BRPOP left unanswered for about 26 s); new connections succeed at once.
RECOVERY_BOUND_S = 30.0
ALL_ROUTES = tuple(Route)
# The chaos run's fates, and jobs whose submit, polls or download take a while upstream, so that
# cuts land in the middle of each; every SLOW_WEBHOOK_EVERY-th job's receiver answers slowly.
PARTITION_FATES = [
    *FATES,
    (Fate("slow-submit", "[sim submit-slow=1.5]", "completed"), 10),
    (Fate("slow-poll", "[sim poll-slow=1]", "completed"), 8),
    (Fate("slow-download", "[sim download-slow=1.5]", "completed"), 10),
]
SLOW_WEBHOOK_EVERY, SLOW_WEBHOOK_S = 3, 1.0
# The sweeper retries a submit left `submitting` for VEO_SUBMIT_STALE_S; the request it gave up
# on must be over by then, or a cut that delays it (TCP keeps retransmitting it) can land it
# upstream after the retry: a second generation outside the window. In production the 300 s
# default is far above the submit task's time limit; the chaos run's 6 s is below the default
# 30 s upstream timeout (the first full partition run found exactly that), so here the upstream
# timeout is shortened below the staleness instead.
PARTITION_SETTINGS = {"VEO_UPSTREAM_TIMEOUT_S": "4", "VEO_UPSTREAM_CONNECT_TIMEOUT_S": "2"}


@dataclass(frozen=True)
class Step:
    """Cut `routes` in the way `how` at `at_s` seconds into the run, for `hold_s` seconds."""

    at_s: float
    routes: tuple[Route, ...]
    how: Cut
    hold_s: float

    @property
    def what(self) -> str:
        names = "all" if self.routes == ALL_ROUTES else "+".join(r.value for r in self.routes)
        return f"{names} {self.how.value}"


# ~40 s of cuts: each route, both ways of cutting, the whole host half-open at the end (webhook
# deliveries included).
SHORT_PLAN = [
    Step(2, (Route.REDIS,), Cut.DROP, 5),
    Step(10, (Route.POSTGRES,), Cut.DROP, 5),
    Step(18, (Route.UPSTREAM,), Cut.DOWN, 4),
    Step(25, (Route.RECEIVER, Route.REDIS), Cut.DOWN, 4),
    Step(32, ALL_ROUTES, Cut.DROP, 5),
]


def full_plan(rng: random.Random) -> list[Step]:
    """Every route alone and the whole host, each both ways, in random order and lengths."""
    cuts = [((route,), how) for route in Route for how in Cut]
    cuts += [(ALL_ROUTES, Cut.DOWN), (ALL_ROUTES, Cut.DROP)]
    rng.shuffle(cuts)
    steps, at = [], 3.0
    for routes, how in cuts:
        hold = rng.uniform(4.0, 20.0)
        steps.append(Step(round(at, 1), routes, how, round(hold, 1)))
        at += hold + rng.uniform(8.0, 15.0)
    return steps


@dataclass
class CutRecord:
    step: Step
    start: float
    end: float = 0.0
    jobs_in_flight: int = 0  # jobs not yet terminal when the cut began
    ns_tasks: Counter[str] = field(default_factory=Counter)  # the cut-off worker's running tasks
    recovered_s: float | None = None  # heal -> the cut-off worker's next finished task


@dataclass
class PartitionReport(Report):
    cuts: list[CutRecord] = field(default_factory=list)
    ns_restarts: int = 0

    @property
    def slowest_recovery_s(self) -> float | None:
        times = [c.recovered_s for c in self.cuts]
        return None if None in times else max((t for t in times if t is not None), default=0.0)

    def partition_table(self, title: str) -> str:
        slowest = self.slowest_recovery_s
        downs = sum(c.step.how is Cut.DOWN for c in self.cuts)
        hit = sum(sum(c.ns_tasks.values()) for c in self.cuts)
        extra: list[tuple[str, object]] = [
            ("partitions: link down", downs),
            ("partitions: packets dropped (half-open)", len(self.cuts) - downs),
            ("cut-off worker's tasks in flight at cuts", hit),
            ("namespaced workers restarted", self.ns_restarts),
            ("slowest recovery after heal (s)", "never" if slowest is None else f"{slowest:.1f}"),
            ("recovery bound (s)", f"{RECOVERY_BOUND_S:.0f}"),
        ]
        lines = [self.table(title, extra), "", "cuts (seconds from the first submit):"]
        origin = self.cuts[0].start - self.cuts[0].step.at_s if self.cuts else 0.0
        for cut in self.cuts:
            back = "never" if cut.recovered_s is None else f"{cut.recovered_s:.1f}s"
            tasks = ", ".join(f"{name} {n}" for name, n in sorted(cut.ns_tasks.items())) or "none"
            lines.append(
                f"  t+{cut.start - origin:5.1f}  {cut.step.what:<22} {cut.end - cut.start:5.1f}s"
                f"  jobs in flight {cut.jobs_in_flight:3}  its tasks: {tasks:<34} back {back}"
            )
        return "\n".join(lines)


# --- the namespaced host's workers ----------------------------------------------------------


def namespaced_env(chaos: ChaosStack, host: WorkerHost, forwarder: Forwarder) -> dict[str, str]:
    """The stack's settings, with Redis, PostgreSQL and the upstream reached over the veths."""
    env = dict(chaos.stack.env)
    redis_at = host.address(Route.REDIS)
    env["VEO_REDIS_URL"] = f"redis://{redis_at}:{forwarder.add(redis_at, chaos.redis.port)}/0"
    pg_at = host.address(Route.POSTGRES)
    pg_port = forwarder.add(pg_at, make_url(TEST_PG_URL).port or 5432)
    url = make_url(env["VEO_DATABASE_URL"]).set(host=pg_at, port=pg_port)
    env["VEO_DATABASE_URL"] = url.render_as_string(hide_password=False)
    up_at = host.address(Route.UPSTREAM)
    up_port = forwarder.add(up_at, int(env["VEO_SIMULATOR_PORT"]))
    env["VEO_SIMULATOR_URL"] = f"http://{up_at}:{up_port}"
    return env


@dataclass
class NamespacedPool:
    """A generation worker and a webhook worker in the namespace, restarted when they exit."""

    workers: Workers
    generation: Proc
    webhooks: Proc
    restarts: list[tuple[float, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, chaos: ChaosStack, host: WorkerHost, env: dict[str, str]) -> "NamespacedPool":
        workers = Workers(replace(chaos.stack, env=env), prefix=host.exec_prefix(), tag="ns-")
        pool = cls(workers, workers.start_worker(), workers.start_webhook_worker())
        wait_for(
            lambda: all("ready." in p.log_text() for p in workers.procs),
            timeout_s=60,
            what="namespaced workers ready",
        )
        return pool

    def supervise(self, stop: threading.Event) -> threading.Thread:
        def watch() -> None:
            while not stop.wait(0.5):
                with self.lock:
                    if not self.generation.alive():
                        self.restarts.append(
                            (time.time(), self.generation.name, self.generation.tail(3))
                        )
                        self.generation = self.workers.start_worker()
                    if not self.webhooks.alive():
                        self.restarts.append(
                            (time.time(), self.webhooks.name, self.webhooks.tail(3))
                        )
                        self.webhooks = self.workers.start_webhook_worker()

        thread = threading.Thread(target=watch, name="ns-supervisor", daemon=True)
        thread.start()
        return thread

    def logs(self, *, webhooks: bool = True) -> list[Path]:
        """Every worker's log, the replaced ones' too; without the webhook workers' if asked
        (they run a task only when a delivery is due, so they cannot show a recovery)."""
        return [p.log_path for p in self.workers.procs if webhooks or "veo.webhooks" not in p.argv]


# --- the run ----------------------------------------------------------------------------------


def play(
    chaos: ChaosStack, host: WorkerHost, plan: list[Step], faults: Chaos
) -> tuple[threading.Thread, list[CutRecord]]:
    """Cut and heal by the plan in a thread; every cut is healed, whatever happens."""
    records: list[CutRecord] = []

    def in_flight() -> int:
        try:
            rows = chaos.sql("SELECT count(*) FROM jobs WHERE status NOT IN ('completed','failed')")
        except psycopg.Error:
            return -1
        return int(rows[0][0])

    def run() -> None:
        origin = time.monotonic()
        for step in plan:
            time.sleep(max(0.0, step.at_s - (time.monotonic() - origin)))
            record = CutRecord(step, time.time(), jobs_in_flight=in_flight())
            try:
                for route in step.routes:
                    host.cut(route, step.how)
                time.sleep(step.hold_s)  # deliberate: the partition lasts this long
            except Exception as exc:  # a step failing must not leave the host cut off
                faults.log.errors.append(f"{step}: {exc!r}")
            finally:
                host.heal_all()
            record.end = time.time()
            records.append(record)
            if set(step.routes) - {Route.RECEIVER}:  # a cut that can open the submit window
                faults.log.partitions.append((record.start, record.end, step.what))

    thread = threading.Thread(target=run, name="partitions", daemon=True)
    thread.start()
    return thread, records


def run_partition(
    tmp: Path,
    *,
    jobs: int,
    plan: list[Step],
    drain_timeout_s: float,
    seed: int,
    fault_rate: float = 0.05,
) -> tuple[PartitionReport, str]:
    """Start the stack and the namespaced host, submit `jobs` while `plan` plays, drain, check."""
    rng = random.Random(seed)
    fates = draw_fates(jobs, rng, PARTITION_FATES)
    run_id = f"p{rng.randrange(1 << 24):06x}"
    accounts = 4
    window_s = max(s.at_s + s.hold_s for s in plan)
    began = time.monotonic()
    with worker_host(rng) as host:
        allow = f"127.0.0.0/8,::1/128,{host.block}"
        with chaos_stack(
            tmp,
            accounts=accounts,
            credits_each=CREDITS_PER_JOB * (jobs // accounts + 2),
            fault_rate=fault_rate,
            seed=seed,
            env_extra={**PARTITION_SETTINGS, "VEO_OUTBOUND_ALLOW_CIDRS": allow},
            receiver_host=host.address(Route.RECEIVER),
            generation_workers=1,
        ) as chaos:
            forwarder = Forwarder()
            pool: NamespacedPool | None = None
            stop = threading.Event()
            try:
                pool = NamespacedPool.start(chaos, host, namespaced_env(chaos, host, forwarder))
                faults = Chaos(chaos, rng)
                watchers = [faults.supervise(stop), pool.supervise(stop)]
                assert chaos.receiver.current is not None
                for index in range(0, jobs, SLOW_WEBHOOK_EVERY):
                    chaos.receiver.current.set(f"hook/{run_id}/{index}", delay_s=SLOW_WEBHOOK_S)
                cutter, records = play(chaos, host, plan, faults)
                submitted = submit_all(chaos, fates, run_id, spread_s=window_s * 0.9)
                cutter.join(timeout=window_s + 120)
                with suppress(TimeoutError):  # the last heal's recovery, if the run is done
                    wait_for(
                        lambda: (
                            records
                            and first_finished_after(
                                task_events(pool.logs(webhooks=False)), records[-1].end
                            )
                        ),
                        timeout_s=RECOVERY_BOUND_S,
                        interval_s=0.5,
                        what="the namespaced worker's next task",
                    )
                report = PartitionReport()
                report.drain_s = wait_drained(chaos, submitted, drain_timeout_s)
                report.total_s = time.monotonic() - began
                stop.set()
                for watcher in watchers:
                    watcher.join(timeout=5)
                verify(chaos, submitted, faults.log, report)
                _judge_cuts(report, records, pool)
                report.problems[:0] = [f"step error: {e}" for e in faults.log.errors]
                report.problems.insert(
                    0, f"seed {seed}, run {run_id}, host {host.netns} {host.block}"
                )
                logs = ""
                if len(report.problems) > 1:
                    logs = chaos.logs() + "".join(
                        f"\n--- {p.name}\n{p.tail(30)}" for p in pool.workers.procs
                    )
                    report.problems.insert(1, f"logs kept in {keep_evidence(chaos, run_id)}")
                return report, logs
            finally:
                stop.set()
                host.heal_all()
                if pool is not None:  # checked already: no need to wait for a warm shutdown
                    for proc in pool.workers.procs:
                        proc.kill()
                forwarder.close()


def _judge_cuts(report: PartitionReport, records: list[CutRecord], pool: NamespacedPool) -> None:
    """What the cut-off worker was doing at each cut, and how soon after healing it worked."""
    events = task_events(pool.logs())
    generation = task_events(pool.logs(webhooks=False))
    report.ns_restarts = len(pool.restarts)
    for at, name, tail in pool.restarts:
        last = tail.strip().splitlines()[-1:] or [""]
        report.problems.append(f"namespaced {name} exited at {at:.1f} (restarted): {last[0][:160]}")
    for record in records:
        record.ns_tasks = running_at(events, record.start)
        finished = first_finished_after(generation, record.end)
        record.recovered_s = None if finished is None else finished - record.end
        if record.recovered_s is None or record.recovered_s > RECOVERY_BOUND_S:
            report.problems.append(
                f"SLOW RECOVERY: after {record.step.what} the namespaced worker's next task"
                f" finished {record.recovered_s} s after the heal"
            )
    report.cuts = records
