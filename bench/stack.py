"""One benchmark stack: its own database, its own Redis key prefix, its own processes.

Every section starts a fresh stack (so rows or messages from one section never leak into the
next) and tears it down completely: processes stopped, database dropped, its Redis keys deleted.
Nothing outside the stack's own database and key prefix is ever written.
"""

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from bench.procs import MeasuredProc
from devtools.processes import VENV_BIN, free_port, http_ok
from simulator.control import control_headers

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("VEO_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("VEO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
GENERATION_QUEUES = "veo.submit,veo.poll,veo.maintenance"
WEBHOOK_QUEUE = "veo.webhooks"
# Every worker of the suite runs with these, the noop baseline included (as in the tests).
WORKER_FLAGS = ["--without-mingle", "--without-gossip", "-l", "INFO"]


@dataclass
class RunContext:
    """What every stack of one `bench/run.py` run shares."""

    work_dir: Path
    redis_url: str
    gateway_workers: int
    extra_env: dict[str, str] = field(default_factory=dict)  # --set VEO_X=Y, for every stack
    log_dir: Path = field(init=False)

    # Processes that outlive one stack (e.g. section 3's simulator, shared by both databases).
    shared: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log_dir = self.work_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        self.cleanups.clear()


class Stack:
    def __init__(
        self, ctx: RunContext, backend: str, name: str, overrides: dict[str, str] | None = None
    ) -> None:
        self.ctx = ctx
        self.backend = backend
        self.name = f"{name}-{backend}"
        self.tag = secrets.token_hex(4)
        self.prefix = f"veobench-{self.tag}:"
        self.data_dir = ctx.work_dir / f"{self.name}-{self.tag}"
        self.data_dir.mkdir(parents=True)
        self.log_dir = ctx.log_dir / f"{self.name}-{self.tag}"
        self.log_dir.mkdir(parents=True)
        self.pg_name: str | None = None
        if backend == "postgres":
            self.pg_name = f"veo_bench_{self.tag}"
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self.pg_name}"')
            base = PG_ADMIN_URL.rsplit("/", 1)[0]
            self.database_url = (
                base.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{self.pg_name}"
            )
        else:
            self.database_url = f"sqlite:///{self.data_dir / 'veo.db'}"
        self.gateway_port = free_port()
        self.simulator_port = free_port()
        self.env: dict[str, str] = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VEO_")},
            "PYTHONPATH": str(REPO),
            "VEO_ENVIRONMENT": "development",
            "VEO_DATA_DIR": str(self.data_dir),
            "VEO_DATABASE_URL": self.database_url,
            "VEO_REDIS_URL": ctx.redis_url,
            "VEO_REDIS_KEY_PREFIX": self.prefix,
            "VEO_GATEWAY_PORT": str(self.gateway_port),
            "VEO_SIMULATOR_PORT": str(self.simulator_port),
            "VEO_SIMULATOR_CONTROL_TOKEN": secrets.token_urlsafe(16),
            "VEO_LOG_LEVEL": "INFO",
            **(overrides or {}),
            **ctx.extra_env,
        }
        self.gateway_port = int(self.env["VEO_GATEWAY_PORT"])
        self.simulator_port = int(self.env["VEO_SIMULATOR_PORT"])
        self.procs: list[MeasuredProc] = []
        self._engine: Engine | None = None
        self._redis: redis.Redis | None = None
        self._count = 0

    # --- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> "Stack":
        self.migrate()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def migrate(self) -> None:
        self._python("from shared import migrate; migrate.upgrade()")

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
        if self._engine is not None:
            self._engine.dispose()
        if self.pg_name is not None:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (self.pg_name,),
                )
                admin.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}"')
            self.pg_name = None
        with contextlib.suppress(redis.RedisError):
            self.delete_redis_keys()

    def delete_redis_keys(self) -> int:
        client = self.redis()
        batch: list[str] = []
        deleted = 0
        for key in client.scan_iter(match=f"{self.prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(client.delete(*batch))
                batch.clear()
        if batch:
            deleted += int(client.delete(*batch))
        return deleted

    # --- handles for the orchestrator ------------------------------------------------------------
    def engine(self) -> Engine:
        if self._engine is None:
            args: dict[str, Any] = {"timeout": 60} if self.backend == "sqlite" else {}
            self._engine = create_engine(self.database_url, poolclass=NullPool, connect_args=args)
        return self._engine

    def redis(self) -> redis.Redis:
        if self._redis is None:
            self._redis = redis.Redis.from_url(self.ctx.redis_url, decode_responses=True)
        return self._redis

    def rkey(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.simulator_port}"

    @property
    def simulator_headers(self) -> dict[str, str]:
        """What the simulator's control endpoints (/_sim/stats, ...) require."""
        return control_headers(self.env["VEO_SIMULATOR_CONTROL_TOKEN"])

    # --- processes -------------------------------------------------------------------------------
    def _python(self, code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{code!r} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(
        self,
        name: str,
        argv: list[str],
        ready: Callable[[MeasuredProc], bool],
        timeout_s: float = 60,
    ) -> MeasuredProc:
        proc = MeasuredProc(name, argv, self.env, self.log_dir, REPO).start()
        self.procs.append(proc)
        proc.wait_ready(lambda: ready(proc), timeout_s=timeout_s, interval_s=0.1)
        return proc

    def start_simulator(self) -> MeasuredProc:
        return self.start(
            "simulator",
            [sys.executable, "-m", "simulator"],
            lambda _: http_ok(f"{self.simulator_url}/_sim/health"),
        )

    def start_gateway(self) -> MeasuredProc:
        argv = uvicorn_argv("api_gateway.app:app", self.gateway_port, self.ctx.gateway_workers)
        return self.start("gateway", argv, lambda _: http_ok(f"{self.gateway_url}/api/health"))

    def start_worker(
        self,
        *,
        queues: str = GENERATION_QUEUES,
        concurrency: int = 2,
        pool: str = "prefork",
        app: str = "worker.app",
    ) -> MeasuredProc:
        self._count += 1
        name = f"worker{self._count}"
        argv = [
            str(VENV_BIN / "celery"), "-A", app, "worker", "-Q", queues, "-c", str(concurrency),
            "-P", pool, "-n", f"{name}-{self.tag}@%h", *WORKER_FLAGS,
        ]  # fmt: skip
        return self.start(name, argv, lambda p: " ready." in p.log_text())

    def start_webhook_worker(self) -> MeasuredProc:
        """As in the Procfile/tests: webhooks on a thread pool."""
        return self.start_worker(queues=WEBHOOK_QUEUE, concurrency=8, pool="threads")

    def start_beat(self) -> MeasuredProc:
        argv = [
            str(VENV_BIN / "celery"), "-A", "worker.app", "beat", "-l", "INFO",
            "-s", str(self.data_dir / "beat-schedule"),
        ]  # fmt: skip
        return self.start("beat", argv, lambda p: "beat: Starting" in p.log_text())

    def start_receiver(self) -> tuple[MeasuredProc, str]:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = self.start(
            "receiver",
            [sys.executable, "-m", "bench.receiver", "--port", str(port)],
            lambda _: http_ok(f"{url}/health"),
        )
        return proc, url

    def start_pipeline(self) -> "Pipeline":
        """Every process a job passes through, and an account with no limit to submit with."""
        simulator = self.start_simulator()
        receiver, receiver_url = self.start_receiver()
        gateway, worker = self.start_gateway(), self.start_worker()
        webhook_worker, beat = self.start_webhook_worker(), self.start_beat()
        _, key = self.create_account(credits=10**9, rate_limit=10**9)
        procs = (simulator, receiver, gateway, worker, webhook_worker, beat)
        return Pipeline(*procs, receiver_url=receiver_url, api_key=key)

    def create_account(
        self, *, credits: int, rate_limit: int, webhook_url: str | None = None
    ) -> tuple[str, str]:
        """`veo-admin create-account --json`: (account id, API key); `rate_limit` is both of its
        budgets (write and read)."""
        argv = [
            str(VENV_BIN / "veo-admin"), "create-account", "--credits", str(credits),
            "--rate-limit", str(rate_limit), "--read-rate-limit", str(rate_limit), "--json",
        ]  # fmt: skip
        if webhook_url:
            argv += ["--webhook-url", webhook_url]
        done = subprocess.run(
            argv, env=self.env, cwd=REPO, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"veo-admin create-account failed:\n{done.stdout}{done.stderr}")
        data = json.loads(done.stdout)
        return str(data["account_id"]), str(data["api_key"])


@dataclass(frozen=True)
class Pipeline:
    """The processes `Stack.start_pipeline` started (for their CPU), the receiver's URL, a key."""

    simulator: MeasuredProc
    receiver: MeasuredProc
    gateway: MeasuredProc
    worker: MeasuredProc
    webhook_worker: MeasuredProc
    beat: MeasuredProc
    receiver_url: str
    api_key: str


def uvicorn_argv(app: str, port: int, workers: int) -> list[str]:
    """The one uvicorn command line of the suite: the gateway and the bare baseline share it."""
    return [
        str(VENV_BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip


def wait_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)
