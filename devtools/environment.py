"""What every process of the dev stack shares: its environment, its secrets in the data dir,
and the demo account's key.

The database layer and the admin CLI are imported inside the functions that use them, so
`veo-dev settings-table` and `veo-dev worker` start fast.
"""

import os
import secrets
import sys
from pathlib import Path

from shared.settings import RedisUrlOrigin, Settings, get_settings

DEMO_CREDITS = 1000
DEMO_KEY_FILE = "demo-api-key"
SIMULATOR_CONTROL_FILE = "simulator-control-token"


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


SIMULATED_TOPIC = "projects/simulator-project/topics/veo-operations"


def simulated_push_env(settings: Settings) -> dict[str, str]:
    """With the simulator as upstream: it pushes each operation's end to the gateway the way a
    Pub/Sub push subscription would, and the gateway accepts its tokens, so the default stack
    shows the fast path (polling stays the fallback). What the environment already sets wins."""
    if settings.upstream_backend != "simulator":
        return {}
    from simulator.push import PUSH_SERVICE_ACCOUNT

    host = "127.0.0.1" if settings.gateway_host in ("0.0.0.0", "::", "") else settings.gateway_host  # noqa: S104
    push_url = f"http://{host}:{settings.gateway_port}/api/upstream/notifications"
    wanted = {
        "VEO_PUBSUB_TOPIC": SIMULATED_TOPIC,
        "VEO_PUSH_NOTIFICATIONS": "true",
        "VEO_PUSH_CERTS_URL": f"{settings.simulator_url}/_sim/oauth2/v1/certs",
        "VEO_PUSH_SERVICE_ACCOUNT": PUSH_SERVICE_ACCOUNT,
        "VEO_PUSH_AUDIENCE": push_url,
        "VEO_SIMULATOR_PUSH_URL": push_url,
    }
    return {name: value for name, value in wanted.items() if name not in os.environ}


def simulator_control_token(settings: Settings) -> str:
    """VEO_SIMULATOR_CONTROL_TOKEN, or a new one for this run; kept (mode 0600) in the data dir
    for whoever drives the simulator's /_sim/* endpoints by hand (docs/simulator.md)."""
    token = settings.simulator_control_token.get_secret_value() or secrets.token_urlsafe(18)
    write_secret(settings.data_dir / SIMULATOR_CONTROL_FILE, token)
    return token


def export(env: dict[str, str]) -> Settings:
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
