"""Retention: finished videos are deleted `video_retention_days` after they completed (the
status answer's `expiresAt`), and uploaded images no job used for `upload_unused_retention_s`
are removed with their rows (freeing the account's upload quota).

Runs from beat on the maintenance queue. Each file goes before its row or column, so a crash
in between leaves a row the next pass finishes (deleting a missing file is a no-op); an
upload is removed only while no job still waiting or generating uses it, checked again by the
DELETE itself.
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Text, and_, cast, delete, exists, or_, select, update

from shared import status_cache
from shared.constants import TASK_RETENTION
from shared.db import read_connection, write_session
from shared.job_view import STATUS_FIELDS
from shared.models import JOBS, UPLOADS, upload_storage_key, video_files
from shared.settings import get_settings
from shared.states import TERMINAL, JobStatus
from shared.storage import get_storage
from shared.timeutil import utcnow
from worker.app import app

log = logging.getLogger(__name__)
BATCH = 500
_uploads = UPLOADS


def expire_videos(now: datetime | None = None) -> int:
    """Delete the files of videos past retention and forget their keys; how many."""
    days = get_settings().video_retention_days
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    with read_connection() as connection:
        rows = connection.execute(
            select(JOBS.c.id, JOBS.c.video_key, JOBS.c.video_keys)
            .where(
                JOBS.c.status == JobStatus.COMPLETED.value,
                JOBS.c.completed_at < cutoff,
                JOBS.c.video_key.is_not(None),
            )
            .limit(BATCH)
        ).all()
    storage = get_storage()
    for row in rows:
        for key in video_files(row.video_key, row.video_keys):
            storage.delete(key)
    if not rows:
        return 0
    ids = [row.id for row in rows]
    with write_session() as session:
        session.execute(
            update(JOBS).where(JOBS.c.id.in_(ids)).values(video_key=None, video_keys=None)
        )
        session.commit()
    with read_connection() as connection:  # the mirrored answers lose their videoUrl too
        finished = connection.execute(
            select(*(JOBS.c[name] for name in STATUS_FIELDS)).where(JOBS.c.id.in_(ids))
        ).all()
    status_cache.store(finished)
    return len(rows)


def _unused_since(cutoff: datetime) -> ColumnElement[bool]:
    """No job created since `cutoff`, and no job still waiting or generating, uses the upload:
    as its image, or as a last frame or reference image (named in its options' JSON; a key is
    a random token, so matching its text there finds no other upload's)."""
    unfinished = [status.value for status in JobStatus if status not in TERMINAL]
    return ~exists().where(
        or_(
            JOBS.c.image_key == _uploads.c.key,
            cast(JOBS.c.options, Text).contains(_uploads.c.key),
        ),
        or_(JOBS.c.created_at >= cutoff, JOBS.c.status.in_(unfinished)),
    )


def remove_unused_uploads(now: datetime | None = None) -> int:
    """Delete uploads older than the retention that no recent or unfinished job uses."""
    cutoff = (now or utcnow()) - timedelta(seconds=get_settings().upload_unused_retention_s)
    stale = and_(_uploads.c.created_at < cutoff, _unused_since(cutoff))
    columns = (_uploads.c.key, _uploads.c.account_id, _uploads.c.mime_type)
    with read_connection() as connection:
        rows = connection.execute(select(*columns).where(stale).limit(BATCH)).all()
    if not rows:
        return 0
    keys = [row.key for row in rows]
    with write_session() as session:
        session.execute(delete(_uploads).where(_uploads.c.key.in_(keys), stale))
        session.commit()
        gone = set(keys) - set(
            session.execute(select(_uploads.c.key).where(_uploads.c.key.in_(keys))).scalars()
        )
    storage = get_storage()
    for row in rows:
        if row.key in gone:  # a job took it meanwhile: kept
            storage.delete(upload_storage_key(row.account_id, row.key, row.mime_type))
    return len(gone)


@app.task(name=TASK_RETENTION, soft_time_limit=240, time_limit=300)
def retention() -> dict[str, int]:
    detail = {"videos_expired": expire_videos(), "uploads_removed": remove_unused_uploads()}
    if any(detail.values()):
        log.info("retention: %s", detail)
    return detail
