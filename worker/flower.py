"""`python -m worker.flower`: Flower, the operator view over Celery events, locked down.

Why a wrapper instead of a bare `celery flower`: Flower's defaults do not suit us (see
../shared/notes/celery-redis.md §6): no authentication, remote-control buttons (revoke, shutdown,
pool resize) enabled, 100 000 tasks kept in memory, offline workers listed forever. Here every
option comes from the one settings object, so the Procfile and docker-compose stay one-liners.

The password travels in `FLOWER_BASIC_AUTH` (an environment variable Flower reads itself), never on
the command line, where `ps` would show it to every user of the machine.
"""

import os
import secrets
import sys
from pathlib import Path

from shared.settings import Settings, get_settings

PASSWORD_FILE = "flower-password"  # noqa: S105 - a file name, not a password


def password_path(settings: Settings) -> Path:
    return settings.data_dir / PASSWORD_FILE


def flower_password(settings: Settings) -> str:
    """`VEO_FLOWER_PASSWORD`, or one generated on first use and kept (mode 0600) in the data dir.

    Kept so that `make run` can print it and so it survives restarts; created with O_EXCL so two
    processes starting at once agree on a single password.
    """
    configured = settings.flower_password.get_secret_value()
    if configured:
        return configured
    path = password_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_urlsafe(18)  # no ',' or ':' (Flower splits on ',')
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing = path.read_text().strip()
        if existing:
            return existing
        path.write_text(candidate + "\n")  # an empty file left by a crash: fill it in
        path.chmod(0o600)
        return candidate
    with os.fdopen(fd, "w") as handle:
        handle.write(candidate + "\n")
    return candidate


def basic_auth(settings: Settings) -> str:
    """`user:password` as Flower compares it; refuses values Flower would silently mangle."""
    user, password = settings.flower_user, flower_password(settings)
    if not user or ":" in user or "," in user:
        raise ValueError("VEO_FLOWER_USER must be non-empty, without ':' or ','")
    if "," in password:
        raise ValueError("VEO_FLOWER_PASSWORD must not contain ',' (Flower splits its list on it)")
    return f"{user}:{password}"


def flower_argv(settings: Settings) -> list[str]:
    """The command line, with every option deliberate (no secrets in it)."""
    return [
        sys.executable, "-m", "celery", "-A", "worker.app", "flower",
        f"--address={settings.flower_host}",
        f"--port={settings.flower_port}",
        # No remote control from a web page: an operator view, not a control panel.
        "--read_only",
        # Flower keeps task state in memory; its default of 100 000 grows without need.
        f"--max_tasks={settings.flower_max_tasks}",
        # Scaled-away workers have unique names and would otherwise pile up as "offline".
        f"--purge_offline_workers={settings.flower_purge_offline_workers_s}",
    ]  # fmt: skip


def main() -> None:
    """Replace this process with Flower, so signals from honcho or Docker reach it directly."""
    settings = get_settings()
    env = {**os.environ, "FLOWER_BASIC_AUTH": basic_auth(settings)}
    argv = flower_argv(settings)
    os.execve(argv[0], argv, env)  # noqa: S606 - argv is built above from settings, no shell


if __name__ == "__main__":
    main()
