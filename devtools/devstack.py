"""`veo-dev`: the whole stack on one machine, for `make run`, `make worker` and `make test`.

`run` is the quickstart: data dir, an embedded Redis (unless VEO_REDIS_URL says where yours is),
migrations, a demo account, then the Procfile's processes under honcho, and a banner once the
gateway and the simulator answer. A second run reuses everything (SQLite file, key, Redis AOF).
While it runs, `<data_dir>/stack.json` says which Redis it serves (shared/stack_record.py).

Nothing here is used in production; docker-compose.yml runs the same commands without it.
The database layer and the admin CLI are imported inside the functions that use them, so
`settings-table` and `worker` start fast and keep working while those modules are mid-edit.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import typing
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from honcho import manager as honcho_manager
from honcho.environ import expand_processes, parse_procfile
from honcho.printer import Printer
from rich.console import Console
from rich.text import Text

from devtools.embedded_redis import EmbeddedRedis
from devtools.processes import free_port, http_ok, redis_answers
from devtools.settings_doc import settings_markdown, with_table
from shared.constants import ALL_QUEUES
from shared.settings import RedisUrlOrigin, Settings, get_settings, without_password
from shared.stack_record import read_record, record_path, remove_record, write_record

app = typer.Typer(help="Run the whole stack locally (make run, make worker).", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True)  # URLs and keys stay on one line

ROOT = Path(__file__).resolve().parent.parent
DEMO_CREDITS = 1000
DEMO_KEY_FILE = "demo-api-key"
SIMULATOR_CONTROL_FILE = "simulator-control-token"
READY_TIMEOUT_S = 90.0  # first start imports a lot; a cold laptop can take a while
# honcho SIGKILLs what is still running this long after the first process stopped; above the
# workers' soft-shutdown timeout (30 s) so a task in progress may finish.
STOP_GRACE_S = 35
SAMPLE_PROMPT = "A beautiful sunset over the ocean with waves gently lapping the shore"
# The conftest's default; `veo-dev test` only stands in when nothing answers there.
TEST_REDIS_URL = "redis://127.0.0.1:6379/0"


# --- environment shared by every process ------------------------------------------------------


def uses_embedded_redis(settings: Settings) -> bool:
    """True unless VEO_REDIS_URL was given (environment or .env): then that Redis is used as is."""
    return settings.redis_url_origin is not RedisUrlOrigin.GIVEN


def stack_env(settings: Settings, redis_url: str) -> dict[str, str]:
    """The environment for the Procfile's processes: every variable its commands expand.

    Values come from the settings (so a `.env` file reaches the shell too), the data dir is
    made absolute so every process opens the same SQLite file, and this interpreter's bin
    directory goes first on PATH so `celery`, `uvicorn` and `python` are the venv's.
    """
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "PYTHONUNBUFFERED": "1",  # log lines reach honcho's pipe as they happen
        "VEO_DATA_DIR": str(settings.data_dir.resolve()),
        "VEO_REDIS_URL": redis_url,
        "VEO_GATEWAY_HOST": settings.gateway_host,
        "VEO_GATEWAY_PORT": str(settings.gateway_port),
        "VEO_WORKER_CONCURRENCY": str(settings.worker_concurrency),
        "VEO_INPUTS_CONCURRENCY": str(settings.inputs_concurrency),
        "VEO_WEBHOOK_CONCURRENCY": str(settings.webhook_concurrency),
        "VEO_LOG_LEVEL": settings.log_level,
    }


def simulator_control_token(settings: Settings) -> str:
    """VEO_SIMULATOR_CONTROL_TOKEN, or a new one for this run; kept (mode 0600) in the data dir
    for whoever drives the simulator's /_sim/* endpoints by hand (docs/simulator.md)."""
    token = settings.simulator_control_token.get_secret_value() or secrets.token_urlsafe(18)
    write_secret(settings.data_dir / SIMULATOR_CONTROL_FILE, token)
    return token


def _export(env: dict[str, str]) -> Settings:
    """Make this process see what its children will see, and re-read the settings."""
    os.environ.update(env)
    get_settings.cache_clear()
    return get_settings()


def write_secret(path: Path, value: str) -> None:
    """Write a one-line secret readable by its owner only (mode 0600, also if it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    path.chmod(0o600)


def _key_is_active(key: str) -> bool:
    from sqlmodel import col, select

    from shared.db import read_session
    from shared.keys import hash_api_key
    from shared.models import Account, ApiKey

    with read_session() as session:
        found = session.exec(
            select(ApiKey.id)
            .join(Account, col(Account.id) == col(ApiKey.account_id))
            .where(
                col(ApiKey.key_hash) == hash_api_key(key),
                col(ApiKey.revoked_at).is_(None),
                col(Account.disabled_at).is_(None),
            )
        ).first()
    return found is not None


def ensure_demo_key(settings: Settings) -> tuple[str, bool]:
    """The demo key from `<data_dir>/demo-api-key` while it still authenticates, else a new
    account with DEMO_CREDITS and a new key. Returns (key, created)."""
    from admin.cli import create_account_with_key

    path = settings.data_dir / DEMO_KEY_FILE
    if path.exists():
        key = path.read_text().strip()
        if key and _key_is_active(key):
            return key, False
    _account, key = create_account_with_key(DEMO_CREDITS, name="demo")
    write_secret(path, key)
    return key, True


# --- honcho -------------------------------------------------------------------------------------


class StackManager(honcho_manager.Manager):
    """honcho's manager, where a second Ctrl-C (or SIGTERM) stops waiting and SIGKILLs."""

    def __init__(self, printer: Printer, on_started: typing.Callable[[], None]) -> None:
        super().__init__(printer)
        self._on_started = on_started

    def _start(self) -> None:
        super()._start()
        # Threads start only after honcho forked its children (forking with threads is unsafe).
        self._on_started()

    def terminate(self) -> None:
        if not self._terminating:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, self._force)
            self._system_print("stopping (Ctrl-C again to kill at once)\n")
        super().terminate()

    def _force(self, _signum: int, _frame: types.FrameType | None) -> None:
        self.kill()


def procfile_path() -> Path:
    for candidate in (ROOT / "Procfile", Path.cwd() / "Procfile"):
        if candidate.exists():
            return candidate
    raise typer.BadParameter("no Procfile next to the code or in the current directory")


def local_url(host: str, port: int) -> str:
    """A URL to reach a listener from this machine (0.0.0.0 is not an address to connect to)."""
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - comparing, not binding
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def busy_ports(settings: Settings) -> str:
    """The listeners of the Procfile whose port is taken, named with their variable; "" if none.

    Checked before starting anything, so a second `make run` fails with one clear line instead
    of a gateway traceback followed by the whole stack stopping.
    """
    listeners = {
        "VEO_GATEWAY_PORT": (settings.gateway_host, settings.gateway_port),
        "VEO_FLOWER_PORT": (settings.flower_host, settings.flower_port),
        "VEO_SIMULATOR_PORT": (settings.simulator_host, settings.simulator_port),
    }
    taken = []
    for variable, (host, port) in listeners.items():
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
            try:
                sock.bind((host, port))
            except OSError:
                taken.append(f"{variable}={port}")
    return ", ".join(taken)


@dataclass
class Banner:
    settings: Settings
    api_key: str
    flower_password: str
    redis_note: str

    @property
    def gateway(self) -> str:
        return local_url(self.settings.gateway_host, self.settings.gateway_port)

    @property
    def simulator(self) -> str:
        return self.settings.simulator_url

    def print(self) -> None:
        s = self.settings
        rows = [
            ("Gateway", self.gateway),
            ("API docs", f"{self.gateway}/docs"),
            (
                "Flower",
                f"{local_url(s.flower_host, s.flower_port)}  "
                f"user {s.flower_user}  password {self.flower_password}",
            ),
            ("Redis", f"{without_password(s.redis_url)}  {self.redis_note}"),
            ("Database", without_password(s.database_url)),
            (
                "Simulator",
                f"{self.simulator}  control token in {s.data_dir / SIMULATOR_CONTROL_FILE}",
            ),
        ]
        console.rule("[bold green]Veo API is running")
        for label, value in rows:
            console.print(Text.assemble((f"  {label:<10} ", "bold"), value))
        console.print(f"Demo API key: {self.api_key}", markup=False)
        console.print("\nTry it (then poll the returned uuid):", style="bold")
        console.print(curl_example(self.gateway, self.api_key), markup=False)
        console.print(
            f'curl -H "Authorization: Bearer {self.api_key}" '
            f"{self.gateway}/api/video-status/<uuid>",
            markup=False,
        )
        console.print("\nMore workers: make worker    Stop: Ctrl-C", style="dim")
        console.rule()


def curl_example(gateway: str, api_key: str) -> str:
    return (
        f"curl -X POST {gateway}/api/generate-video \\\n"
        f'  -H "Authorization: Bearer {api_key}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f'  -d \'{{"generationType": "text_to_video", "prompt": "{SAMPLE_PROMPT}", '
        '"aspectRatio": "16:9"}\''
    )


def wait_until_ready(banner: Banner, done: threading.Event) -> None:
    """Print the banner once the gateway and the simulator answer; warn if they never do."""
    checks = {
        "gateway": f"{banner.gateway}/api/health",
        "simulator": f"{banner.simulator}/_sim/health",
    }
    pending = dict(checks)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while pending and not done.is_set():
        pending = {name: url for name, url in pending.items() if not http_ok(url)}
        if pending and time.monotonic() > deadline:
            names = ", ".join(f"{name} ({url})" for name, url in pending.items())
            console.print(f"[red]not answering after {READY_TIMEOUT_S:.0f} s:[/red] {names}")
            return
        done.wait(0.25)
    if not done.is_set():
        banner.print()


def run_procfile(env: dict[str, str], banner: Banner) -> int:
    """Run the Procfile under honcho until Ctrl-C/SIGTERM or until a process stops on its own."""
    procfile = parse_procfile(procfile_path().read_text())
    done = threading.Event()
    watcher = threading.Thread(target=wait_until_ready, args=(banner, done), daemon=True)
    printer = Printer(sys.stdout, colour=sys.stdout.isatty(), prefix=True)
    manager = StackManager(printer, on_started=watcher.start)
    for process in expand_processes(procfile.processes, env=env):
        manager.add_process(process.name, process.cmd, env={**env, **process.env}, cwd=str(ROOT))
    honcho_manager.KILL_WAIT = STOP_GRACE_S  # read by Manager.loop at each turn
    try:
        manager.loop()
    finally:
        done.set()
    signalled = {info["rc"] for info in honcho_manager.SIGNALS.values()}
    if manager.returncode in signalled:
        return 0
    console.print(
        f"[red]a process stopped on its own (exit {manager.returncode}), so all were stopped;"
        " its last lines are above[/red]"
    )
    return int(manager.returncode or 1)


def _interrupt(_signum: int, _frame: types.FrameType | None) -> None:
    raise KeyboardInterrupt


@app.command()
def run() -> None:
    """Start the whole stack: Redis (embedded), migrations, demo account, every Procfile process."""
    # Until honcho takes over: SIGTERM stops like Ctrl-C, and Ctrl-C works even if inherited
    # as ignored (a background job of a non-interactive shell).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    settings = get_settings()
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    running = read_record(data_dir)
    if running is not None:
        console.print(
            f"[red]a stack already runs on {data_dir} (pid {running.pid}):[/red] stop it, or set"
            f" VEO_DATA_DIR to another directory (if none runs, remove {record_path(data_dir)})"
        )
        raise typer.Exit(1)
    code = 0
    try:
        with ExitStack() as cleanup:
            if uses_embedded_redis(settings):
                redis = EmbeddedRedis(settings.embedded_redis_port, data_dir / "redis")
                cleanup.callback(_stop_redis, redis)
                redis.start()
                redis_url = redis.url
                if redis.owned:
                    redis_note = "(embedded)"
                    console.print(
                        f"embedded Redis started at {redis_url} (data in {redis.data_dir})"
                    )
                else:
                    redis_note = "(embedded, was already running: reused)"
                    console.print(f"a Redis already answers at {redis_url}: reusing it")
            else:
                redis_url, redis_note = settings.redis_url, "(from VEO_REDIS_URL)"
            env = stack_env(settings, redis_url)
            env["VEO_SIMULATOR_CONTROL_TOKEN"] = simulator_control_token(settings)
            code = _run_stack(_export(env), env, redis_note)
    except KeyboardInterrupt:
        console.print("interrupted before the stack was up")
    console.print("stopped")
    raise typer.Exit(code)


def _stop_redis(redis: EmbeddedRedis) -> None:
    if redis.owned:
        console.print("stopping the embedded Redis")
        redis.stop()


def _run_stack(settings: Settings, env: dict[str, str], redis_note: str) -> int:
    from shared import migrate
    from shared.db import dispose_engines
    from worker.flower import flower_password

    taken = busy_ports(settings)
    if taken:
        console.print(
            f"[red]already in use:[/red] {taken}; stop what holds them or change the ports"
        )
        return 1
    console.print(f"migrating {without_password(settings.database_url)}")
    migrate.upgrade()
    api_key, created = ensure_demo_key(settings)
    console.print(
        f"demo account {'created with ' + str(DEMO_CREDITS) + ' credits' if created else 'reused'}"
    )
    password = flower_password(settings)
    dispose_engines()  # honcho forks next; children must not share our connections
    banner = Banner(settings, api_key, password, redis_note)
    # From here until the stack stops, `veo-admin` and `veo-dev worker` on this data dir
    # reach this Redis without being told (shared.stack_record).
    write_record(settings.data_dir, settings.redis_url)
    try:
        return run_procfile(env, banner)
    finally:
        remove_record(settings.data_dir)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues")] = ",".join(ALL_QUEUES),
    concurrency: Annotated[int | None, typer.Option(help="Default: VEO_WORKER_CONCURRENCY")] = None,
) -> None:
    """Start one more worker that joins the running stack (same settings, a unique node name)."""
    settings = get_settings()
    env = dict(os.environ)
    if uses_embedded_redis(settings):
        env["VEO_REDIS_URL"] = settings.redis_url  # the running stack's (its record), if any
        if not redis_answers(env["VEO_REDIS_URL"]):
            console.print(
                f"[yellow]no Redis answers on {env['VEO_REDIS_URL']}: is `make run` running?"
                " The worker keeps retrying.[/yellow]"
            )
    argv = [
        sys.executable, "-m", "celery", "-A", "worker.app", "worker",
        "-Q", queues,
        "-c", str(concurrency or settings.worker_concurrency),
        # The pid survives exec, so the name is unique among the live workers of this host.
        "-n", f"worker-{os.getpid()}@%h",
        "-l", settings.log_level,
    ]  # fmt: skip
    os.execve(argv[0], argv, env)  # noqa: S606 - fixed argv, no shell


@app.command("test", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(ctx: typer.Context) -> None:
    """pytest with the given arguments; outside CI, an embedded Redis stands in when none answers.

    Under CI=true nothing stands in: a missing service must fail the run (tests/conftest.py).
    """
    argv = [sys.executable, "-m", "pytest", *ctx.args]
    env = dict(os.environ)
    test_url = env.get("VEO_TEST_REDIS_URL", TEST_REDIS_URL)
    with ExitStack() as cleanup:
        if env.get("CI", "").lower() != "true" and not redis_answers(test_url):
            data_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="veo-test-")))
            redis = cleanup.enter_context(EmbeddedRedis(free_port(), data_dir))
            console.print(f"no Redis at {test_url}: the tests use an embedded one at {redis.url}")
            env["VEO_TEST_REDIS_URL"] = redis.url
        code = subprocess.call(argv, env=env)  # noqa: S603 - our interpreter, the user's args
    raise typer.Exit(code)


# What a setting is, for the fields whose line in settings.py carries no comment saying so.
# A comment in settings.py (or a Field description) is shown too, after this text.
@app.command("settings-table")
def settings_table(
    write: Annotated[
        Path | None,
        typer.Option(help="Replace the generated block in this file (docs/configuration.md)"),
    ] = None,
    check: Annotated[
        Path | None, typer.Option(help="Fail if this file's block is not current")
    ] = None,
) -> None:
    """Every VEO_* variable with its default and meaning, as Markdown (docs/configuration.md)."""
    table = settings_markdown()
    if write is not None:
        write.write_text(with_table(write.read_text(), table))
        console.print(f"updated {write}")
    elif check is not None:
        text = check.read_text()
        if with_table(text, table) != text:
            console.print(f"{check} is stale: run `veo-dev settings-table --write {check}`")
            raise typer.Exit(1)
    else:
        typer.echo(table, nl=False)
