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
import signal
import subprocess
import sys
import tempfile
import threading
import types
import typing
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from honcho import manager as honcho_manager
from honcho.environ import expand_processes, parse_procfile
from honcho.printer import Printer

from devtools.banner import Banner, busy_ports, console, wait_until_ready
from devtools.embedded_redis import EmbeddedRedis
from devtools.environment import (
    DEMO_CREDITS,
    ensure_demo_key,
    export,
    simulated_push_env,
    simulator_control_token,
    stack_env,
    uses_embedded_redis,
)
from devtools.processes import free_port, redis_answers
from devtools.settings_doc import settings_markdown, with_table
from devtools.sync_client import TARGET as SYNC_CLIENT
from devtools.sync_client import generated as generated_sync_client
from shared.constants import ALL_QUEUES
from shared.settings import Settings, get_settings, without_password
from shared.stack_record import read_record, record_path, remove_record, write_record

app = typer.Typer(help="Run the whole stack locally (make run, make worker).", no_args_is_help=True)

ROOT = Path(__file__).resolve().parent.parent
# honcho SIGKILLs what is still running this long after the first process stopped; above the
# workers' soft-shutdown timeout (30 s) so a task in progress may finish.
STOP_GRACE_S = 35
# The conftest's default; `veo-dev test` only stands in when nothing answers there.
TEST_REDIS_URL = "redis://127.0.0.1:6379/0"


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
            env = stack_env(settings, redis_url) | simulated_push_env(settings)
            env["VEO_SIMULATOR_CONTROL_TOKEN"] = simulator_control_token(settings)
            code = _run_stack(export(env), env, redis_note)
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
    target = write or check
    if target is None:
        typer.echo(table, nl=False)
        return
    text = with_table(target.read_text(), table)
    _generated(target, text, check=check is not None, how=f"settings-table --write {target}")


@app.command("sync-client")
def sync_client(
    check: Annotated[bool, typer.Option(help="Fail if client.py is not current")] = False,
) -> None:
    """Generate the SDK's sync client (client/veo_client/client.py) from its async one."""
    _generated(SYNC_CLIENT, generated_sync_client(), check=check, how="sync-client")


def _generated(path: Path, text: str, *, check: bool, how: str) -> None:
    """Write a generated file, or (`check`) fail when the one in the tree is not `text`."""
    if not check:
        path.write_text(text)
        console.print(f"updated {path}")
    elif path.read_text() != text:
        console.print(f"{path} is stale: run `veo-dev {how}`")
        raise typer.Exit(1)
