"""GET /api/videos, POST /api/videos/{uuid}/cancel and DELETE /api/videos/{uuid} over HTTP, on
a gateway whose jobs no worker moves (so a pending job stays pending), on SQLite and
PostgreSQL. Another account's uuid must answer exactly like an unknown one everywhere."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared import status_cache
from shared.db import read_session, write_session
from shared.job_options import default_credits
from shared.lifecycle import advance, complete_job
from shared.models import JOBS, Job
from shared.redis_client import get_redis
from shared.settings import get_settings
from shared.states import JobStatus
from shared.storage import get_storage
from tests.conftest import AccountInfo
from tests.support.api import create_video
from tests.support.jobs import balance, insert_paid_job, reload_job
from tests.support.quiet_gateway import quiet_client, quiet_gateway

__all__ = ["quiet_client", "quiet_gateway"]  # the fixtures this module uses
pytestmark = pytest.mark.usefixtures("quiet_stack")
UNKNOWN = "00000000-0000-0000-0000-000000000000"
NEW_FIELDS = {"prompt", "startedAt", "completedAt", "expiresAt", "queuePosition"}


def _data(response: httpx.Response, code: int = 0, http: int = 200) -> Any:
    body = response.json()
    assert (body["code"], response.status_code) == (code, http), body
    return body["data"]


def _job(job_id: str) -> Job:
    with read_session() as session:
        job = session.get(Job, job_id)
    assert job is not None
    return job


def _completed(info: AccountInfo, tmp_path: Path) -> Job:
    """A job of `info` that completed, its video in storage (as the poller leaves it)."""
    job = insert_paid_job(info.account_id, "a finished one")
    with write_session() as session:
        session.execute(
            JOBS.update().where(JOBS.c.id == job.id).values(status=JobStatus.SUBMITTING.value)
        )
        assert advance(session, job, JobStatus.PROCESSING, upstream_operation=f"op/{job.id}")
    video = tmp_path / "video.mp4"
    video.write_bytes(b"not really an mp4")
    key = f"videos/{job.id}.mp4"
    get_storage().put_file(key, video, "video/mp4")
    with write_session() as session:
        assert complete_job(session, job, video_key=key, video_bytes=17)
    return reload_job(job)


def test_the_list_pages_newest_first_and_each_item_is_the_status_answer(
    quiet_client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=20)
    made = [create_video(quiet_client, info.headers, f"clip {n}") for n in range(5)]
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = _data(quiet_client.get("/api/videos", params=params, headers=info.headers))
        seen += page["items"]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [item["uuid"] for item in seen] == made[::-1]
    newest = seen[0]
    status = _data(quiet_client.get(f"/api/video-status/{made[-1]}", headers=info.headers))
    assert set(newest) == set(status)
    assert set(newest) >= NEW_FIELDS
    assert (newest["prompt"], newest["status"], newest["startedAt"]) == ("clip 4", "pending", None)
    assert isinstance(newest["queuePosition"], int)
    assert newest["queuePosition"] == status["queuePosition"]


def test_the_list_filters_by_status_and_creation_time(
    quiet_client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=20)
    made = [create_video(quiet_client, info.headers, f"clip {n}") for n in range(3)]
    _data(quiet_client.post(f"/api/videos/{made[0]}/cancel", headers=info.headers))

    def uuids(**params: Any) -> list[str]:
        page = _data(quiet_client.get("/api/videos", params=params, headers=info.headers))
        return [item["uuid"] for item in page["items"]]

    assert uuids(status="cancelled") == [made[0]]
    assert uuids(status="pending") == [made[2], made[1]]
    assert uuids(status="completed") == []
    middle = _data(quiet_client.get(f"/api/video-status/{made[1]}", headers=info.headers))
    created = _job(made[1]).created_at
    assert middle["createdAt"].endswith("Z")
    assert uuids(createdAfter=created.isoformat()) == [made[2], made[1]]  # inclusive
    assert uuids(createdBefore=created.isoformat()) == [made[0]]  # exclusive
    naive = created.replace(tzinfo=None).isoformat()  # a time without a zone is UTC
    assert uuids(createdAfter=naive, createdBefore=naive) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"status": "done"}, "status"),
        ({"createdAfter": "yesterday"}, "createdAfter"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "eyJ0IjoxfQ"}, "cursor"),  # base64 JSON, but not a position of this list
    ],
)
def test_bad_list_parameters_are_a_1000_naming_the_field(
    quiet_client: httpx.Client, account: Callable[..., AccountInfo], params: Any, field: str
) -> None:
    info = account(credits=2)
    answer = _data(quiet_client.get("/api/videos", params=params, headers=info.headers), 1000, 400)
    assert answer["field"] == field


def test_other_accounts_see_none_of_it(
    quiet_client: httpx.Client, account: Callable[..., AccountInfo], tmp_path: Path
) -> None:
    owner, stranger = account(credits=10), account(credits=10)
    pending = create_video(quiet_client, owner.headers, "mine")
    done = _completed(owner, tmp_path).id
    listed = _data(quiet_client.get("/api/videos", headers=stranger.headers))
    assert listed == {"items": [], "nextCursor": None}
    for method, path in (
        ("POST", "/api/videos/{}/cancel"),
        ("DELETE", "/api/videos/{}"),
        ("GET", "/api/video-status/{}"),
    ):
        unknown = quiet_client.request(method, path.format(UNKNOWN), headers=stranger.headers)
        assert unknown.status_code == 404
        for uuid in (pending, done):
            foreign = quiet_client.request(method, path.format(uuid), headers=stranger.headers)
            assert (foreign.status_code, foreign.json()) == (404, unknown.json())
    assert _job(pending).status == JobStatus.PENDING
    assert get_storage().path(f"videos/{done}.mp4").exists()  # type: ignore[attr-defined]


def test_cancelling_a_pending_video_refunds_it_once_and_shows_in_the_ledger(
    quiet_client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    price = default_credits(get_settings())
    uuid = create_video(quiet_client, info.headers, "never mind")
    assert balance(info.account_id) == 10 - price

    data = _data(quiet_client.post(f"/api/videos/{uuid.upper()}/cancel", headers=info.headers))

    assert (data["uuid"], data["status"], data["queuePosition"]) == (uuid, "cancelled", None)
    assert data["completedAt"].endswith("Z")
    assert balance(info.account_id) == 10
    status = _data(quiet_client.get(f"/api/video-status/{uuid}", headers=info.headers))
    assert status["status"] == "cancelled"
    ledger = _data(quiet_client.get("/api/account/ledger", headers=info.headers))["items"]
    assert [(e["kind"], e["amount"], e["jobId"]) for e in ledger] == [
        ("refund", price, uuid),
        ("debit", price, uuid),
        ("grant", 10, None),
    ]
    again = _data(quiet_client.post(f"/api/videos/{uuid}/cancel", headers=info.headers), 1000, 400)
    assert again["field"] == "uuid"
    assert balance(info.account_id) == 10


def test_a_finished_video_cannot_be_cancelled(
    quiet_client: httpx.Client, account: Callable[..., AccountInfo], tmp_path: Path
) -> None:
    info = account(credits=10)
    job = _completed(info, tmp_path)
    body = quiet_client.post(f"/api/videos/{job.id}/cancel", headers=info.headers).json()
    assert body["code"] == 1000
    assert "already completed" in body["msg"]
    assert reload_job(job).status == JobStatus.COMPLETED


def test_deleting_a_video_removes_its_file_and_prompt_and_keeps_its_ledger(
    quiet_client: httpx.Client, account: Callable[..., AccountInfo], tmp_path: Path
) -> None:
    info = account(credits=10)
    job = _completed(info, tmp_path)
    shown = _data(quiet_client.get(f"/api/video-status/{job.id}", headers=info.headers))
    assert shown["videoUrl"]  # ... and the answer is now mirrored in Redis
    assert quiet_client.get(shown["videoUrl"]).status_code == 200

    deleted = _data(quiet_client.delete(f"/api/videos/{job.id}", headers=info.headers))

    assert deleted == {"uuid": job.id, "deleted": True}
    row = reload_job(job)
    assert (row.prompt, row.video_key, row.deleted_at is not None) == ("", None, True)
    assert not get_storage().path(f"videos/{job.id}.mp4").exists()  # type: ignore[attr-defined]
    assert quiet_client.get(shown["videoUrl"]).status_code == 404
    unknown = quiet_client.get(f"/api/video-status/{UNKNOWN}", headers=info.headers)
    for _ in range(2):  # from the mirror, then (the entry gone) from the database
        gone = quiet_client.get(f"/api/video-status/{job.id}", headers=info.headers)
        assert (gone.status_code, gone.json()) == (404, unknown.json())
        get_redis().delete(status_cache.entry_key(job.id))
    assert _data(quiet_client.get("/api/videos", headers=info.headers))["items"] == []
    ledger = _data(quiet_client.get("/api/account/ledger", headers=info.headers))["items"]
    assert ("debit", job.id) in [(entry["kind"], entry["jobId"]) for entry in ledger]
    again = quiet_client.delete(f"/api/videos/{job.id}", headers=info.headers)
    assert (again.status_code, again.json()["code"]) == (404, 1000)


def test_a_video_in_progress_must_be_cancelled_before_it_is_deleted(
    quiet_client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    uuid = create_video(quiet_client, info.headers, "still waiting")
    refused = _data(quiet_client.delete(f"/api/videos/{uuid}", headers=info.headers), 1000, 400)
    assert refused["field"] == "uuid"
    assert "cancel it" in refused["reason"]
    _data(quiet_client.post(f"/api/videos/{uuid}/cancel", headers=info.headers))
    assert _data(quiet_client.delete(f"/api/videos/{uuid}", headers=info.headers))["deleted"]


def test_a_fill_that_read_the_row_before_the_deletion_cannot_bring_it_back(
    quiet_client: httpx.Client, account: Callable[..., AccountInfo], tmp_path: Path
) -> None:
    info = account(credits=10)
    stale = _completed(info, tmp_path)  # what a gateway or the sweeper read just before
    _data(quiet_client.delete(f"/api/videos/{stale.id}", headers=info.headers))
    status_cache.store([stale])  # ... and mirrored just after
    gone = quiet_client.get(f"/api/video-status/{stale.id}", headers=info.headers)
    assert (gone.status_code, gone.json()["code"]) == (404, 1000)
