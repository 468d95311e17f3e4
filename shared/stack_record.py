"""The running dev stack's record in its data dir (`stack.json`): which Redis it serves.

`veo-dev run` may start its Redis on any port (VEO_EMBEDDED_REDIS_PORT) or use another one
(VEO_REDIS_URL). A process started later on the same data dir without VEO_REDIS_URL (`veo-admin`,
`veo-dev worker`) must reach that Redis, not whatever answers on the default port: a revocation
written to another stack's Redis leaves the key cached, and working, where it matters. The
settings read this record (shared.settings), so it must not import them.

Written once the stack's Redis answers and removed when the stack stops; a record whose process
is gone (a stack killed with SIGKILL) is ignored.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

RECORD_FILE = "stack.json"


@dataclass(frozen=True)
class StackRecord:
    pid: int
    redis_url: str


def record_path(data_dir: Path) -> Path:
    return data_dir / RECORD_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def read_record(data_dir: Path) -> StackRecord | None:
    """The live stack's record; None when there is none, it is unreadable, or its process died."""
    try:
        document = json.loads(record_path(data_dir).read_text())
        record = StackRecord(int(document["pid"]), str(document["redis_url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if _alive(record.pid) else None


def write_record(data_dir: Path, redis_url: str) -> StackRecord:
    """Record this process as the stack serving `redis_url` (mode 0600: the URL may hold a
    password), atomically, so a reader never sees half a file."""
    record = StackRecord(os.getpid(), redis_url)
    path = record_path(data_dir)
    partial = path.with_suffix(".json.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"pid": record.pid, "redis_url": record.redis_url}, handle)
    partial.chmod(0o600)
    os.replace(partial, path)
    return record


def remove_record(data_dir: Path) -> None:
    """Remove this process's record (another process's is left alone)."""
    path = record_path(data_dir)
    try:
        ours = json.loads(path.read_text()).get("pid") == os.getpid()
    except (OSError, ValueError, AttributeError):
        return
    if ours:
        path.unlink(missing_ok=True)
