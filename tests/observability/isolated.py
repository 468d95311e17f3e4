"""A stack of the test's own (database, data dir, Redis key prefix, ports) on the session's
simulator, so processes started with other settings never share work with the session's."""

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from devtools.processes import free_port
from tests.conftest import Stack, postgres_database, share_simulator_keys
from tests.support.environment import delete_keys, environment


@contextmanager
def isolated_stack(stack: Stack, base: Path, **extra: str) -> Iterator[Stack]:
    from shared import migrate

    with ExitStack() as cleanup:
        if stack.database_url.startswith("sqlite"):
            database_url = f"sqlite:///{base / 'veo.db'}"
        else:
            database_url = cleanup.enter_context(postgres_database())
        prefix = f"veoiso-{secrets.token_hex(4)}:"
        data_dir = base / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        share_simulator_keys(stack, data_dir)
        env = {
            **stack.env,
            "VEO_DATA_DIR": str(data_dir),
            "VEO_DATABASE_URL": database_url,
            "VEO_REDIS_KEY_PREFIX": prefix,
            "VEO_WORKER_METRICS_PORT": str(free_port()),
            **extra,
        }
        cleanup.callback(delete_keys, stack.redis_url, prefix)
        with environment(env):
            migrate.upgrade()
        yield Stack(env, data_dir, stack.log_dir, database_url, stack.redis_url)
