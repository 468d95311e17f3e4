"""Where this process's metric values live, decided before prometheus_client is imported.

A Celery worker (prefork: a pool of processes) writes them to files, one directory per worker
under data_dir/metrics (`worker-<pid>`), wiped when that worker starts; its pool children
inherit the directory. At start, the directories of workers no longer running are removed.
The host's exporter (shared/metrics/exporter.py) adds up every directory there.

The gateway counts in memory (one process), unless the operator sets PROMETHEUS_MULTIPROC_DIR
(several uvicorn workers); then /metrics adds up that directory. Any other process (beat,
Flower, tests, `veo-admin`) counts in memory and serves nothing.
"""

import os
import shutil
import sys
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
WORKER_DIR_PREFIX = "worker-"


def is_celery_worker(argv: list[str] | None = None) -> bool:
    """Whether this is the main process of `celery ... worker` (pool children fork from it)."""
    argv = sys.argv if argv is None else argv
    program = Path(argv[0]).name if argv else ""
    return program in {"celery", "__main__.py"} and "worker" in argv[1:]


def metrics_root() -> Path:
    from shared.settings import get_settings

    return get_settings().data_dir / "metrics"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead(root: Path) -> None:
    """The directories of workers that are no longer running (their counters end with them)."""
    for directory in root.glob(f"{WORKER_DIR_PREFIX}*"):
        pid = directory.name.removeprefix(WORKER_DIR_PREFIX)
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(directory, ignore_errors=True)


def _inherited_worker_dir() -> bool:
    """Whether the directory in the environment is a running worker's (a pool child's parent)."""
    name = Path(os.environ.get(MULTIPROC_ENV, "")).name
    pid = name.removeprefix(WORKER_DIR_PREFIX)
    return name.startswith(WORKER_DIR_PREFIX) and pid.isdigit() and _alive(int(pid))


def prepare() -> None:
    """Choose the value store for this process (see the module's docstring)."""
    if is_celery_worker() and not _inherited_worker_dir():
        root = metrics_root()
        directory = root / f"{WORKER_DIR_PREFIX}{os.getpid()}"
        remove_dead(root)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        os.environ[MULTIPROC_ENV] = str(directory)
    elif os.environ.get(MULTIPROC_ENV):
        Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)
    if "prometheus_client" in sys.modules:  # imported before us: values made from now on follow
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
