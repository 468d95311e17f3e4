"""The retention sweep: videos past `video_retention_days` lose their file and their URL (the
status said when, in `expiresAt`); uploads no recent or unfinished job uses are removed."""

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlmodel import col

from shared.celery_app import celery_config
from shared.constants import TASK_RETENTION
from shared.db import read_session, write_session
from shared.job_view import status_data
from shared.models import Job, Upload
from shared.settings import Settings
from shared.states import JobStatus
from shared.storage import get_storage
from shared.storage.local import LocalStorage
from shared.timeutil import iso_z, utcnow
from worker.tasks.retention import expire_videos, remove_unused_uploads, retention


def _finished(paid_job: Callable[..., Job], tmp_path: Path, days_ago: float) -> Job:
    job = paid_job()
    source = tmp_path / f"{job.id}.mp4"
    source.write_bytes(b"mp4")
    get_storage().put_file(f"videos/{job.id}.mp4", source, "video/mp4")
    done = utcnow() - timedelta(days=days_ago)
    with write_session() as session:
        session.execute(
            update(Job)
            .where(col(Job.id) == job.id)
            .values(status=JobStatus.COMPLETED, completed_at=done, video_key=f"videos/{job.id}.mp4")
        )
        session.commit()
    return _job(job.id)


def _job(job_id: str) -> Job:
    with read_session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _stored(key: str) -> bool:
    storage = get_storage()
    assert isinstance(storage, LocalStorage)
    return storage.path(key).is_file()


def test_videos_past_retention_are_deleted_and_the_status_said_when(
    settings: Settings, paid_job: Callable[..., Job], tmp_path: Path
) -> None:
    old = _finished(paid_job, tmp_path, days_ago=31)
    recent = _finished(paid_job, tmp_path, days_ago=29)
    before = status_data(None, old)
    assert old.completed_at is not None
    assert before["expiresAt"] == iso_z(old.completed_at + timedelta(days=30))
    assert before["videoUrl"] is not None

    assert expire_videos() == 1
    assert not _stored(f"videos/{old.id}.mp4")
    assert _stored(f"videos/{recent.id}.mp4")
    after = status_data(None, _job(old.id))
    assert (after["status"], after["videoUrl"]) == ("completed", None)
    assert after["expiresAt"] == before["expiresAt"]
    assert status_data(None, _job(recent.id))["videoUrl"] is not None
    assert expire_videos() == 0  # nothing left to do


def test_retention_zero_keeps_videos_forever(
    settings: Settings,
    configure: Callable[..., Settings],
    paid_job: Callable[..., Job],
    tmp_path: Path,
) -> None:
    job = _finished(paid_job, tmp_path, days_ago=400)
    configure(video_retention_days=0)
    assert expire_videos() == 0
    assert status_data(None, job)["expiresAt"] is None
    assert _stored(f"videos/{job.id}.mp4")


def _upload(account_id: str, tmp_path: Path, hours_ago: float) -> Upload:
    upload = Upload(
        key=f"img_{hours_ago}".replace(".", "_"),
        account_id=account_id,
        mime_type="image/png",
        size_bytes=3,
        width=1,
        height=1,
        created_at=utcnow() - timedelta(hours=hours_ago),
    )
    source = tmp_path / f"{upload.key}.png"
    source.write_bytes(b"png")
    get_storage().put_file(upload.storage_key, source, upload.mime_type)
    with write_session() as session:
        session.add(upload)
        session.commit()
        session.refresh(upload)
    return upload


def _uses(paid_job: Callable[..., Job], upload: Upload, hours_ago: float, status: str) -> None:
    paid_job(
        image_key=upload.key,
        generation_type="image_to_video",
        status=JobStatus(status),
        created_at=utcnow() - timedelta(hours=hours_ago),
    )


def test_uploads_unused_for_a_day_are_removed(
    settings: Settings, account_id: str, paid_job: Callable[..., Job], tmp_path: Path
) -> None:
    unused = _upload(account_id, tmp_path, hours_ago=25)
    fresh = _upload(account_id, tmp_path, hours_ago=23)
    used_recently = _upload(account_id, tmp_path, hours_ago=48)
    _uses(paid_job, used_recently, hours_ago=2, status="completed")
    used_long_ago = _upload(account_id, tmp_path, hours_ago=72)
    _uses(paid_job, used_long_ago, hours_ago=60, status="completed")
    still_waiting = _upload(account_id, tmp_path, hours_ago=96)
    _uses(paid_job, still_waiting, hours_ago=90, status="pending")
    last_frame = _upload(account_id, tmp_path, hours_ago=95)  # named only in the job's options
    paid_job(
        status=JobStatus.PENDING,
        created_at=utcnow() - timedelta(hours=90),
        options={"lastFrameKey": last_frame.key, "referenceImages": []},
    )

    assert remove_unused_uploads() == 2
    with read_session() as session:
        left = set(session.execute(select(col(Upload.key))).scalars())
    kept = (fresh, used_recently, still_waiting, last_frame)
    assert left == {upload.key for upload in kept}
    for upload in (unused, used_long_ago):
        assert not _stored(upload.storage_key)
    for upload in kept:
        assert _stored(upload.storage_key)


def test_beat_runs_the_retention_task(settings: Settings) -> None:
    schedule = celery_config(settings)["beat_schedule"]
    assert schedule["retention"]["task"] == TASK_RETENTION
    assert schedule["retention"]["schedule"] == settings.retention_sweep_interval_s
    assert retention() == {"videos_expired": 0, "uploads_removed": 0}
