"""Store: a finished operation's videos, streamed from the upstream into our storage.

Each sample goes to a file of its own in the temporary directory and is then handed to storage
(a rename, locally), so no video is ever held whole in memory.
"""

import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from shared.metrics import jobs as job_metrics
from shared.settings import Settings
from shared.storage import get_storage
from worker.upstream import get_upstream
from worker.upstream.base import VideoRef


@dataclass(slots=True)
class Stored:
    """A finished job's videos (one per sample), now in our storage: the job completes."""

    video_keys: list[str]
    video_bytes: int  # all of them together


def video_key(job_id: str, sample: int) -> str:
    """Where a sample is stored: the first where single-sample jobs always kept theirs."""
    return f"videos/{job_id}.mp4" if sample == 0 else f"videos/{job_id}-{sample}.mp4"


async def store_video(key: str, video: VideoRef, settings: Settings) -> int:
    """Download one video to storage; returns its size. A file of its own in the temporary
    directory, not a temporary directory per video: creating and removing one cost about a
    tenth of a poll batch's time on a busy host."""
    path = Path(tempfile.gettempdir()) / f"veo-video-{uuid.uuid4().hex}.mp4"
    started = time.monotonic()
    try:
        size = await get_upstream().download(video, path, max_bytes=settings.video_max_bytes)
        await asyncio.to_thread(get_storage().put_file, key, path, "video/mp4", move=True)
    finally:
        path.unlink(missing_ok=True)  # gone already once moved
    job_metrics.downloaded(time.monotonic() - started)
    return size


async def store_videos(job_id: str, videos: tuple[VideoRef, ...], settings: Settings) -> Stored:
    """Every sample, one after another (a worker holds one download at a time per job)."""
    keys, total = [], 0
    for sample, video in enumerate(videos):
        key = video_key(job_id, sample)
        total += await store_video(key, video, settings)
        keys.append(key)
    return Stored(keys, total)
