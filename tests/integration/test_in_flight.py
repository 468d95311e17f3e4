"""The global in-flight set in Redis follows the rows, whatever happened to Redis or a worker."""

from collections.abc import Callable

import pytest

from shared.constants import KEY_IN_FLIGHT
from shared.db import write_session
from shared.models import Job
from shared.quotas import acquire_slot
from shared.redis_client import get_redis, rkey
from tests.conftest import AccountInfo

# On a database and key prefix no worker serves: the session's sweeper reconciles its own set.
pytestmark = pytest.mark.usefixtures("quiet_stack")


def test_sweeper_frees_dead_slots_and_restores_live_ones(
    account: Callable[..., AccountInfo],
) -> None:
    from worker.tasks.sweep import reconcile_in_flight

    info = account(credits=10)
    live = Job(
        account_id=info.account_id, generation_type="text_to_video", prompt="p", aspect_ratio="16:9"
    )
    live.status = "processing"
    with write_session() as session:
        session.add(live)
        session.commit()
    client, key = get_redis(), rkey(KEY_IN_FLIGHT)
    client.delete(key)
    assert acquire_slot(client, key, "job-that-died-before-submitting", limit=10, ttl_s=600)
    reconcile_in_flight()
    holders = set(client.zrange(key, 0, -1))
    assert "job-that-died-before-submitting" not in holders
    assert live.id in holders
