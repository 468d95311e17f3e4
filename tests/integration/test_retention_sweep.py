"""The retention sweep's queries on both databases: an old upload no job uses goes, with its
file; one a waiting job uses stays; a video past retention loses its file and its key."""

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import col

from shared.db import read_session, write_session
from shared.models import Job, Upload
from shared.states import JobStatus
from shared.storage import get_storage
from shared.storage.local import LocalStorage
from shared.timeutil import utcnow
from tests.conftest import AccountInfo, Stack
from tests.support.environment import reset_caches
from tests.support.jobs import insert_paid_job
from worker.tasks.retention import expire_videos, remove_unused_uploads


def _local() -> LocalStorage:
    storage = get_storage()
    assert isinstance(storage, LocalStorage)
    return storage


def _upload(account_id: str, name: str, hours_ago: float, tmp: str) -> Upload:
    upload = Upload(
        key=f"img_{name}",
        account_id=account_id,
        mime_type="image/png",
        size_bytes=3,
        width=1,
        height=1,
        created_at=utcnow() - timedelta(hours=hours_ago),
    )
    source = _local().path(f"{tmp}/{name}.png")
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(b"png")
    get_storage().put_file(upload.storage_key, source, upload.mime_type)
    with write_session() as session:
        session.add(upload)
        session.commit()
        session.refresh(upload)
    return upload


def test_the_sweep_removes_what_retention_says_and_nothing_else(
    quiet_stack: Stack, account: Callable[..., AccountInfo]
) -> None:
    reset_caches()
    owner = account(credits=10).account_id
    unused = _upload(owner, "unused", 30, "tmp")
    waiting = _upload(owner, "waiting", 30, "tmp")
    job = insert_paid_job(owner)
    old = utcnow() - timedelta(days=40)
    with write_session() as session:
        session.execute(
            update(Job)
            .where(col(Job.id) == job.id)
            .values(image_key=waiting.key, generation_type="image_to_video", created_at=old)
        )
        session.commit()
    assert remove_unused_uploads() == 1
    with read_session() as session:
        assert set(session.execute(select(col(Upload.key))).scalars()) == {waiting.key}
    assert not _local().path(unused.storage_key).is_file()

    done = insert_paid_job(owner)
    video = _local().path(f"videos/{done.id}.mp4")
    video.parent.mkdir(parents=True, exist_ok=True)
    video.write_bytes(b"mp4")
    with write_session() as session:
        session.execute(
            update(Job)
            .where(col(Job.id) == done.id)
            .values(status=JobStatus.COMPLETED, completed_at=old, video_key=f"videos/{done.id}.mp4")
        )
        session.commit()
    assert expire_videos() == 1
    assert not video.exists()
    with read_session() as session:
        expired = session.get(Job, done.id)
        assert expired is not None
        assert expired.video_key is None
