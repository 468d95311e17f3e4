"""`veo-admin` tells the gateways' key cache in the Redis of the stack it administers: the one
the running dev stack recorded in its data dir, unless VEO_REDIS_URL says otherwise; and says so
loudly, exiting 3, when that Redis does not answer."""

from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from devtools.embedded_redis import EmbeddedRedis
from devtools.processes import free_port
from shared.db import read_session
from shared.models import ApiKey
from shared.stack_record import remove_record, write_record
from tests.conftest import AccountInfo, Stack, running_gateway
from tests.support.admin import TEXT_JOB, UNKNOWN_JOB, veo_admin
from tests.support.jobs import balance


def without_redis_url(stack: Stack) -> dict[str, str]:
    """The stack's environment as an operator's shell has it: no VEO_REDIS_URL."""
    return {name: value for name, value in stack.env.items() if name != "VEO_REDIS_URL"}


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis on a port of its own, as `make run` starts with VEO_EMBEDDED_REDIS_PORT set."""
    with EmbeddedRedis(free_port(), tmp_path_factory.mktemp("stack-redis")) as server:
        yield server.url


@pytest.fixture
def recorded_stack(stack: Stack, own_redis: str) -> Iterator[str]:
    """A gateway on that Redis, and the record the running dev stack leaves in the data dir."""
    with running_gateway(stack, "gateway-own-redis", env={"VEO_REDIS_URL": own_redis}) as url:
        write_record(stack.data_dir, own_redis)
        try:
            yield url
        finally:
            remove_record(stack.data_dir)


def test_a_key_revoked_with_veo_admin_is_refused_at_once_by_a_stack_on_its_own_redis(
    stack: Stack, recorded_stack: str, account: Callable[..., AccountInfo]
) -> None:
    user = account(credits=10)
    with httpx.Client(base_url=recorded_stack, timeout=30) as client:
        assert client.get(UNKNOWN_JOB, headers=user.headers).json()["code"] == 1000  # now cached
        revoked = veo_admin(without_redis_url(stack), "revoke-key", user.api_key)
        assert revoked.returncode == 0, revoked.stderr
        refused = client.post("/api/generate-video", headers=user.headers, json=TEXT_JOB)
        assert (refused.status_code, refused.json()["code"]) == (401, 1002)
        refused = client.get(UNKNOWN_JOB, headers=user.headers)
        assert (refused.status_code, refused.json()["code"]) == (401, 1002)
    assert balance(user.account_id) == 10
    assert revoked.stdout.strip() == "key revoked"  # and nothing else: the right Redis heard


def test_a_revocation_redis_does_not_hear_of_exits_3_and_says_for_how_long_the_key_works(
    stack: Stack, client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    user = account(credits=10)
    assert client.get(UNKNOWN_JOB, headers=user.headers).json()["code"] == 1000
    silent = {**stack.env, "VEO_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    revoked = veo_admin(silent, "revoke-key", user.api_key)
    assert revoked.returncode == 3, revoked
    assert revoked.stdout.strip() == "key revoked"  # in the database, which is the record
    assert "did not answer" in revoked.stderr
    assert "up to 60 s" in revoked.stderr
    assert "VEO_REDIS_URL" in revoked.stderr
    with read_session() as session:
        row = session.execute(
            select(ApiKey).where(col(ApiKey.account_id) == user.account_id)
        ).scalar_one()
    assert row.revoked_at is not None
