"""The status endpoint answers from a Redis mirror of jobs past pending; these are the ways a
mirror could lie, each checked over HTTP against a running gateway, on SQLite and PostgreSQL."""

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from devtools.processes import wait_for
from shared import status_cache
from shared.db import write_session
from shared.lifecycle import Failure, advance, complete_job, fail_job
from shared.models import JOBS, Job
from shared.redis_client import get_redis, rkey
from shared.states import JobStatus
from shared.transitions import transition
from tests.conftest import AccountInfo, Stack, running_gateway
from tests.support.jobs import insert_paid_job, reload_job
from tests.support.quiet_gateway import quiet_client, quiet_gateway  # noqa: F401 - fixtures

# On a database no worker serves, behind a gateway of its own: the session's poll tick and
# sweeper would otherwise move these jobs (or repair the mirror) while a test looks at them.
pytestmark = pytest.mark.usefixtures("quiet_stack")


@pytest.fixture
def client(quiet_client: httpx.Client) -> httpx.Client:  # noqa: F811 - the fixture
    return quiet_client


def _status(client: httpx.Client, info: AccountInfo, job_id: str) -> dict[str, object]:
    body = client.get(f"/api/video-status/{job_id}", headers=info.headers).json()
    assert body["code"] == 0, body
    data: dict[str, object] = body["data"]
    return data


def _move_to_processing(job: Job) -> Job:
    with write_session() as session:
        session.execute(
            JOBS.update().where(JOBS.c.id == job.id).values(status=JobStatus.SUBMITTING.value)
        )
        assert advance(session, job, JobStatus.PROCESSING, upstream_operation=f"op/{job.id}")
    return reload_job(job)


def test_every_move_shows_at_once_while_the_job_is_polled(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    job = insert_paid_job(info.account_id)
    assert _status(client, info, job.id)["status"] == "pending"
    job = _move_to_processing(job)
    for _ in range(3):  # the first read fills the mirror, the next ones are served from it
        assert _status(client, info, job.id)["status"] == "processing"
    with write_session() as session:
        assert complete_job(session, job, video_key=f"videos/{job.id}.mp4", video_bytes=10)
    data = _status(client, info, job.id)
    assert data["status"] == "completed"
    assert f"/api/files/videos/{job.id}.mp4?expires=" in str(data["videoUrl"])
    assert data["progress"] == 100
    assert str(data["completedAt"]).endswith("Z")


def test_a_failure_shows_with_its_reason(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    job = _move_to_processing(insert_paid_job(info.account_id))
    assert _status(client, info, job.id)["status"] == "processing"
    with write_session() as session:
        assert fail_job(session, job, Failure("content_policy", "The prompt was refused."))
    data = _status(client, info, job.id)
    assert (data["status"], data["errorCode"], data["error"]) == (
        "failed",
        "content_policy",
        "The prompt was refused.",
    )


def test_a_fill_that_read_the_row_before_a_move_cannot_undo_it(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    job = _move_to_processing(insert_paid_job(info.account_id))
    stale = reload_job(job)  # what a gateway read just before the worker's commit
    with write_session() as session:
        assert complete_job(session, job, video_key=f"videos/{job.id}.mp4", video_bytes=10)
    status_cache.store([stale])  # ... and wrote just after it
    assert _status(client, info, job.id)["status"] == "completed"


def test_a_mirrored_job_stays_invisible_to_other_accounts(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    owner, stranger = account(credits=10), account(credits=10)
    job = _move_to_processing(insert_paid_job(owner.account_id))
    assert _status(client, owner, job.id)["status"] == "processing"
    foreign = client.get(f"/api/video-status/{job.id}", headers=stranger.headers)
    unknown = client.get(
        "/api/video-status/00000000-0000-0000-0000-000000000000", headers=stranger.headers
    )
    assert (foreign.status_code, foreign.json()) == (unknown.status_code, unknown.json())
    assert foreign.json()["code"] == 1000


def test_statuses_stay_right_after_redis_loses_the_mirror(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    job = _move_to_processing(insert_paid_job(info.account_id))
    with write_session() as session:
        assert complete_job(session, job, video_key=f"videos/{job.id}.mp4", video_bytes=10)
    redis = get_redis()
    redis.delete(*redis.keys(rkey("job-status", "*")))
    assert _status(client, info, job.id)["status"] == "completed"
    assert _status(client, info, job.id)["status"] == "completed"


def test_a_lost_mirror_write_is_repaired_by_the_next_sweep(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    from worker.tasks.sweep import mirror_recent_finishes

    info = account(credits=10)
    job = _move_to_processing(insert_paid_job(info.account_id))
    assert _status(client, info, job.id)["status"] == "processing"
    with write_session() as session:  # the move, without the mirror write that follows it
        assert transition(
            session, job.id, JobStatus.COMPLETED, video_key="videos/x.mp4", video_bytes=1
        )
        session.commit()
    assert _status(client, info, job.id)["status"] == "processing"  # the lie being repaired
    assert mirror_recent_finishes() >= 1
    assert _status(client, info, job.id)["status"] == "completed"


@pytest.fixture
def short_mirror_gateway(quiet: Stack) -> Iterator[str]:
    env = {"VEO_STATUS_MIRROR_PROCESSING_TTL_S": "1"}
    with running_gateway(quiet, "gateway-short-mirror", env=env) as url:
        yield url


def test_a_lost_mirror_write_heals_within_its_lifetime(
    short_mirror_gateway: str, account: Callable[..., AccountInfo]
) -> None:
    """Redis unreachable right after the commit, and no sweep since: the job shows processing
    for at most status_mirror_processing_ttl_s (1 s here), then the truth."""
    info = account(credits=10)
    job = _move_to_processing(insert_paid_job(info.account_id))
    get_redis().delete(status_cache.entry_key(job.id))  # so this gateway fills it, with its TTL
    with httpx.Client(base_url=short_mirror_gateway, timeout=10) as client:
        assert _status(client, info, job.id)["status"] == "processing"
        with write_session() as session:  # the move, without the mirror write that follows it
            assert transition(
                session, job.id, JobStatus.COMPLETED, video_key="videos/x.mp4", video_bytes=1
            )
            session.commit()
        wait_for(
            lambda: _status(client, info, job.id)["status"] == "completed",
            timeout_s=10,
            what="the mirrored status to expire",
        )


def test_an_entry_of_another_shape_is_read_again_from_the_database(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    """An entry written by a version whose status rows had other fields (a rolling upgrade):
    answered from the row, then mirrored again in this version's shape."""
    info = account(credits=10)
    job = _move_to_processing(insert_paid_job(info.account_id, "after an upgrade"))
    get_redis().set(status_cache.entry_key(job.id), f'1["{info.account_id}","{job.id}"]')
    data = _status(client, info, job.id)
    assert (data["status"], data["prompt"]) == ("processing", "after an upgrade")
    entry = get_redis().get(status_cache.entry_key(job.id))
    assert status_cache.decode(str(entry)) is not None


def test_an_entry_from_a_release_with_other_fields_is_read_from_the_database(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    """After an upgrade that adds status fields, entries written before it (fewer fields, by
    position) are passed over, and the answer carries the new fields."""
    info = account(credits=10)
    job = _move_to_processing(insert_paid_job(info.account_id, credits=3))
    assert _status(client, info, job.id)["status"] == "processing"
    key = status_cache.entry_key(job.id)
    entry = str(get_redis().get(key))
    values = json.loads(entry[1:])
    get_redis().set(key, entry[0] + json.dumps(values[:12]))  # as the release before options
    data = _status(client, info, job.id)
    assert (data["status"], data["credits"]) == ("processing", 3)
