"""Shared fixtures: a real database (SQLite and PostgreSQL), a real Redis, real processes.

Every test session works in its own PostgreSQL database, its own SQLite file, and its own Redis
key prefix, so it never touches data it did not create. Under CI (`CI=true`) a missing service
fails the run; elsewhere the PostgreSQL half is skipped, loudly.

The session's workers and beat (`workers`), once started, keep serving the session's database
and queues: their sweeper resends due rows, their poll tick claims due jobs, their webhook
worker takes whatever lands on the queue. A test that runs task bodies in-process and counts
what happened to its rows uses `quiet_stack` instead: a database and key prefix of its own
that no worker or beat ever serves.
"""

import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from devtools.processes import VENV_BIN, Proc, free_port, http_ok, postgres_answers, redis_answers
from simulator.control import control_headers
from simulator.oauth import oauth_root
from tests.support.environment import delete_keys, environment
from tests.support.receiver import Receiver, start_receiver

CI = os.environ.get("CI", "").lower() == "true"
TEST_REDIS_URL = os.environ.get("VEO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_PG_URL = os.environ.get("VEO_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
SKIPPED_SERVICES: list[str] = []

# Fast timings so pipeline tests finish in seconds; each is a documented VEO_* setting.
FAST_PIPELINE = {
    "VEO_POLL_FIRST_DELAY_S": "0.3",
    "VEO_POLL_MAX_INTERVAL_S": "1.0",
    "VEO_POLL_TICK_S": "0.25",
    "VEO_POLL_CLAIM_S": "8",
    "VEO_SWEEP_INTERVAL_S": "1.0",
    "VEO_SWEEP_STALE_AFTER_S": "3",
    "VEO_SUBMIT_RETRY_DELAY_S": "0.3",
    "VEO_SIMULATOR_DEFAULT_LATENCY_S": "0.5",
    "VEO_SIMULATOR_LATENCY_JITTER_S": "0.1",
    "VEO_SIMULATOR_VIDEO_SIZE": "small",
    "VEO_POLL_HISTORY_SETTLE_S": "0",
    "VEO_UPSTREAM_SUBMITS_PER_MINUTE": "60000",
    "VEO_UPSTREAM_POLLS_PER_SECOND": "5000",
    "VEO_DEFAULT_RATE_LIMIT_PER_MINUTE": "100000",
    "VEO_DEFAULT_READ_RATE_LIMIT_PER_MINUTE": "100000",
    # Tests send many bad keys from one address; the tests of that limit set their own.
    "VEO_AUTH_FAILURES_PER_MINUTE": "100000",
    "VEO_JOB_DEADLINE_S": "15",
    "VEO_IMAGE_FETCH_TIMEOUT_S": "10",  # above the slowest image host a test sets up (6 s)
    "VEO_SUBMIT_STALE_S": "10",
    "VEO_WEBHOOK_RETRY_SCHEDULE_S": "0.5,1,1,2",
    "VEO_WEBHOOK_CLAIM_S": "4",
    "VEO_WEBHOOK_TIMEOUT_S": "3",
}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for message in SKIPPED_SERVICES:
        terminalreporter.write_sep("!", message, red=True, bold=True)


@pytest.fixture(scope="session")
def redis_url() -> str:
    if redis_answers(TEST_REDIS_URL):
        return TEST_REDIS_URL
    if CI:
        pytest.fail(f"CI=true and Redis is not answering at {TEST_REDIS_URL}")
    pytest.fail(f"Redis is not answering at {TEST_REDIS_URL} (set VEO_TEST_REDIS_URL)")
    raise AssertionError  # unreachable


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'veo.db'}"
        return
    if not postgres_answers(TEST_PG_URL):
        if CI:
            pytest.fail(f"CI=true and PostgreSQL is not answering at {TEST_PG_URL}")
        message = f"PostgreSQL not answering at {TEST_PG_URL}: every [postgres] test was SKIPPED"
        if message not in SKIPPED_SERVICES:
            SKIPPED_SERVICES.append(message)
        pytest.skip(message)
    with postgres_database() as url:
        yield url


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database of the test session's own, dropped afterwards."""
    name = f"veo_test_{secrets.token_hex(4)}"
    with psycopg.connect(TEST_PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = TEST_PG_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}/{name}"
    with psycopg.connect(TEST_PG_URL, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


@dataclass
class Stack:
    """The environment every process of one test session runs with."""

    env: dict[str, str]
    data_dir: Path
    log_dir: Path
    database_url: str
    redis_url: str

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env['VEO_GATEWAY_PORT']}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.env['VEO_SIMULATOR_PORT']}"

    @property
    def simulator_headers(self) -> dict[str, str]:
        """What the simulator's control endpoints (/_sim/stats, reset, config, ...) require."""
        return control_headers(self.env["VEO_SIMULATOR_CONTROL_TOKEN"])


@pytest.fixture(scope="session")
def stack(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("data")
    log_dir = tmp_path_factory.mktemp("logs")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VEO_")},
        **FAST_PIPELINE,
        "VEO_ENVIRONMENT": "development",
        "VEO_DATA_DIR": str(data_dir),
        "VEO_DATABASE_URL": database_url,
        "VEO_REDIS_URL": redis_url,
        "VEO_REDIS_KEY_PREFIX": f"veotest-{secrets.token_hex(4)}:",
        "VEO_GATEWAY_PORT": str(free_port()),
        "VEO_SIMULATOR_PORT": str(free_port()),
        "VEO_FLOWER_PORT": str(free_port()),
        "VEO_WORKER_METRICS_PORT": str(free_port()),  # the session's workers' exporter
        "VEO_SIMULATOR_CONTROL_TOKEN": secrets.token_urlsafe(16),
        "VEO_LOG_LEVEL": "INFO",
    }
    from shared import migrate

    with environment(env):
        migrate.upgrade()
        yield Stack(env, data_dir, log_dir, database_url, redis_url)


def share_simulator_keys(stack: Stack, data_dir: Path) -> None:
    """A data dir of its own whose workers still get tokens from the session's simulator: it
    knows the service accounts registered in its own data dir only (simulator/oauth.py). Only
    that registry is shared: each data dir keeps its own service-account file, which names the
    simulator its stack talks to."""
    shared = oauth_root(stack.data_dir)
    shared.mkdir(parents=True, exist_ok=True)
    oauth_root(data_dir).parent.mkdir(parents=True, exist_ok=True)
    oauth_root(data_dir).symlink_to(shared)


@pytest.fixture(scope="session")
def quiet(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The session's stack with a database, data dir and Redis key prefix of its own that no
    worker or beat process ever serves (the simulator is shared: it keeps no rows of ours).

    Nothing but the test itself moves its rows: no sweeper resends them, no poll tick or
    webhook worker claims them, and what a task body publishes stays on queues no one reads.
    """
    from shared import migrate

    with ExitStack() as cleanup:
        if stack.database_url.startswith("sqlite"):
            database_url = f"sqlite:///{tmp_path_factory.mktemp('quiet') / 'veo.db'}"
        else:
            database_url = cleanup.enter_context(postgres_database())
        data_dir = tmp_path_factory.mktemp("quiet-data")
        share_simulator_keys(stack, data_dir)
        prefix = f"veoquiet-{secrets.token_hex(4)}:"
        env = {
            **stack.env,
            "VEO_DATA_DIR": str(data_dir),
            "VEO_DATABASE_URL": database_url,
            "VEO_REDIS_KEY_PREFIX": prefix,
        }
        cleanup.callback(delete_keys, stack.redis_url, prefix)
        with environment(env):
            migrate.upgrade()
        yield Stack(env, data_dir, stack.log_dir, database_url, stack.redis_url)


@pytest.fixture
def quiet_stack(quiet: Stack) -> Iterator[Stack]:
    """Run this test in-process on `quiet` (its settings, database and key prefix)."""
    with environment(quiet.env):
        yield quiet


def start_gateway(
    stack: Stack,
    name: str = "gateway",
    port: int | None = None,
    *,
    env: dict[str, str] | None = None,
    healthy: bool = True,
) -> tuple[Proc, str]:
    """A gateway process on the stack's settings plus `env`; waits until /api/health answers
    (200 unless `healthy` is False: a gateway started on purpose without a dependency)."""
    full_env = {**stack.env, **(env or {})}
    if port is not None:
        full_env["VEO_GATEWAY_PORT"] = str(port)
    url = f"http://127.0.0.1:{full_env['VEO_GATEWAY_PORT']}"
    argv = [
        str(VENV_BIN / "uvicorn"),
        "api_gateway.app:app",
        "--host",
        "127.0.0.1",
        "--port",
        full_env["VEO_GATEWAY_PORT"],
    ]
    proc = Proc(name, [*argv, "--log-level", "warning"], full_env, stack.log_dir).start()

    def answers() -> bool:
        return (
            http_ok(f"{url}/api/health")
            if healthy
            else bool(httpx.get(f"{url}/api/health", timeout=5))
        )

    return proc.wait_ready(answers, timeout_s=30), url


@contextmanager
def running_gateway(
    stack: Stack, name: str, *, env: dict[str, str] | None = None, healthy: bool = True
) -> Iterator[str]:
    """A gateway of the test's own on a free port (see start_gateway), stopped on leaving."""
    proc, url = start_gateway(stack, name, free_port(), env=env, healthy=healthy)
    try:
        yield url
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def gateway_url(stack: Stack) -> Iterator[str]:
    proc, url = start_gateway(stack)
    yield url
    proc.stop()


@pytest.fixture
def client(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def simulator_url(stack: Stack) -> Iterator[str]:
    proc = Proc("simulator", [sys.executable, "-m", "simulator"], stack.env, stack.log_dir).start()
    proc.wait_ready(lambda: http_ok(f"{stack.simulator_url}/_sim/health"), timeout_s=30)
    yield stack.simulator_url
    proc.stop()


GENERATION_QUEUES = "veo.submit,veo.poll,veo.maintenance"


class Workers:
    """Celery worker processes (and the one beat) for one test session; tests may kill them."""

    def __init__(self, stack: Stack, *, prefix: list[str] | None = None, tag: str = "") -> None:
        self.stack = stack
        self.prefix = prefix or []  # e.g. `ip netns exec NAME`: run each worker inside it
        self.tag = tag  # added to process names, to tell several pools' logs apart
        self.procs: list[Proc] = []
        self.beat: Proc | None = None
        self._count = 0

    def start_worker(
        self, *, queues: str = GENERATION_QUEUES, concurrency: int = 2, pool: str = "prefork"
    ) -> Proc:
        self._count += 1
        name = f"{self.tag}worker{self._count}"
        argv = [
            *self.prefix,
            str(VENV_BIN / "celery"), "-A", "worker.app", "worker", "-l", "INFO",
            "-c", str(concurrency), "-P", pool, "-n", f"{name}-{secrets.token_hex(3)}@%h",
            "-Q", queues, "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        proc = Proc(name, argv, self.stack.env, self.stack.log_dir).start()
        self.procs.append(proc)
        return proc

    def start_inputs_worker(self) -> Proc:
        """As in the Procfile: image jobs (fetch, then submit) in processes of their own."""
        return self.start_worker(queues="veo.inputs", concurrency=4)

    def start_webhook_worker(self) -> Proc:
        """As in the Procfile: webhooks on a thread pool, so a slow receiver holds one thread."""
        return self.start_worker(queues="veo.webhooks", concurrency=8, pool="threads")

    def start_beat(self) -> Proc:
        schedule = self.stack.data_dir / f"beat-{secrets.token_hex(3)}"
        argv = [
            str(VENV_BIN / "celery"),
            "-A",
            "worker.app",
            "beat",
            "-l",
            "INFO",
            "-s",
            str(schedule),
        ]
        self.beat = Proc(f"{self.tag}beat", argv, self.stack.env, self.stack.log_dir).start()
        return self.beat

    def stop_all(self) -> None:
        for proc in [*self.procs, *([self.beat] if self.beat else [])]:
            proc.stop()


@pytest.fixture(scope="session")
def workers(stack: Stack, simulator_url: str) -> Iterator[Workers]:
    """Two generation workers, an inputs worker, a webhook worker and beat, shared by one
    session's e2e tests."""
    pool = Workers(stack)
    pool.start_worker()
    pool.start_worker()
    pool.start_inputs_worker()
    pool.start_webhook_worker()
    pool.start_beat()
    yield pool
    pool.stop_all()


@dataclass(frozen=True)
class AccountInfo:
    account_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def account(stack: Stack) -> Callable[..., AccountInfo]:
    """Factory: a fresh account with `credits` and an API key (per-minute `rate_limit`, the
    write budget, and `read_rate_limit` optional)."""
    from admin.cli import create_account_with_key

    def make(
        credits: int = 100,
        rate_limit: int | None = None,
        webhook_url: str | None = None,
        read_rate_limit: int | None = None,
    ) -> AccountInfo:
        created, key = create_account_with_key(
            credits, webhook_url=webhook_url, rate_limit=rate_limit, read_rate_limit=read_rate_limit
        )
        return AccountInfo(created.id, key)

    return make


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A webhook receiver of the module's own (tests/support/receiver.py)."""
    server = start_receiver()
    yield server
    server.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `one_database` run on SQLite only: their PostgreSQL twins would repeat the
    API's own queries, which the rest of the suite runs on both, at a minute or more each."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        twin = callspec is not None and callspec.params.get("database_url") == "postgres"
        (dropped if twin and item.get_closest_marker("one_database") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
