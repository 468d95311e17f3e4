"""A job's generation options on their way to the upstream and back: the submit step builds
the upstream request from the `options` column (fetching the last frame and the reference images
as it does the first image), and the poll step stores every sample the upstream returns."""

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from shared.db import read_connection, read_session, write_session
from shared.job_options import resolve, to_column
from shared.job_view import STATUS_FIELDS, status_data
from shared.models import JOBS, Job, LedgerEntry, Upload, upload_storage_key
from shared.settings import Settings
from shared.storage import get_storage
from tests.support.fake_upstream import FakeUpstream, rejected
from tests.support.jobs import balance, insert_paid_job, reload_job
from tests.tasks.conftest import CREDITS, admit_waiting
from tests.uploads.images import image_bytes
from worker.tasks.poll import poll_due
from worker.tasks.submit import submit_job
from worker.upstream.base import PollResult, VideoRef

PaidJob = Callable[..., Job]


@pytest.fixture
def vertex(configure: Callable[..., Settings]) -> Settings:
    return configure(simulator_protocol="vertex")


@pytest.fixture
def upload(account_id: str, vertex: Settings) -> Callable[[tuple[int, int]], str]:
    """Factory: an uploaded PNG of `size` (as /api/upload-video-image stores it); its key."""

    def make(size: tuple[int, int]) -> str:
        data = image_bytes("PNG", size)
        upload = Upload(
            key=f"img_{len(data)}_{size[0]}x{size[1]}",
            account_id=account_id,
            mime_type="image/png",
            size_bytes=len(data),
            width=size[0],
            height=size[1],
        )
        with tempfile.NamedTemporaryFile(delete=False) as file:
            file.write(data)
        get_storage().put_file(upload.storage_key, Path(file.name), "image/png", move=True)
        with write_session() as session:
            session.add(upload)
            session.commit()
        assert upload.storage_key == upload_storage_key(account_id, upload.key, "image/png")
        return upload.key

    return make


def _options(settings: Settings, **given: Any) -> dict[str, Any]:
    inputs = {k: given.pop(k) for k in ("lastFrameKey", "referenceImages") if k in given}
    return to_column(resolve(given, settings), inputs)


def _submit(paid_job: PaidJob, upstream: FakeUpstream, **columns: Any) -> Job:
    job = paid_job(**columns)
    assert admit_waiting() == [job.id]
    assert submit_job.run(job.id) == "processing"
    return job


def _status(job: Job) -> dict[str, Any]:
    with read_connection() as connection:
        row = connection.execute(
            JOBS.select()
            .with_only_columns(*(JOBS.c[n] for n in STATUS_FIELDS))
            .where(JOBS.c.id == job.id)
        ).one()
        return status_data(connection, row)


def test_every_option_and_both_frames_reach_the_upstream_request(
    paid_job: PaidJob, upstream: FakeUpstream, vertex: Settings, upload: Callable[..., str]
) -> None:
    first, last = upload((48, 64)), upload((40, 80))
    options = _options(
        vertex,
        model="veo-3.1-fast",
        durationSeconds=8,
        resolution="1080p",
        negativePrompt="rain",
        seed=42,
        generateAudio=False,
        sampleCount=2,
        lastFrameKey=last,
    )
    job = _submit(
        paid_job,
        upstream,
        generation_type="image_to_video",
        image_key=first,
        aspect_ratio="auto",
        options=options,
    )
    (request,) = upstream.requests
    assert request.model == "veo-3.1-fast-generate-001"
    assert (request.duration_s, request.resolution, request.negative_prompt) == (8, "1080p", "rain")
    assert (request.seed, request.generate_audio, request.sample_count) == (42, False, 2)
    assert request.image is not None
    assert request.last_frame is not None
    assert request.last_frame.data != request.image.data  # each image read from its own upload
    assert request.reference_images == ()
    assert request.aspect_ratio == "9:16"  # `auto`, from the portrait first frame
    status = _status(job)
    assert status["aspectRatio"] == "9:16"
    assert (status["model"], status["seed"], status["sampleCount"]) == ("veo-3.1-fast", 42, 2)


def test_reference_images_reach_the_upstream_request_and_the_default_model_its_setting(
    paid_job: PaidJob, upstream: FakeUpstream, vertex: Settings, upload: Callable[..., str]
) -> None:
    key = upload((64, 48))
    references = [{"imageKey": key, "referenceType": "asset"}] * 2
    _submit(paid_job, upstream, options=_options(vertex, referenceImages=references))
    (request,) = upstream.requests
    assert request.model is None  # the configured model id (settings.model) decides
    assert [r.reference_type for r in request.reference_images] == ["asset", "asset"]
    assert request.image is None
    assert request.last_frame is None


def test_a_job_from_before_options_is_sent_with_the_settings_defaults(
    paid_job: PaidJob, upstream: FakeUpstream, vertex: Settings
) -> None:
    job = _submit(paid_job, upstream)
    (request,) = upstream.requests
    assert (request.model, request.duration_s, request.resolution, request.seed) == (
        None,
        None,
        None,
        None,
    )
    assert request.sample_count == 1
    assert _status(job)["model"] is None


def test_a_missing_last_frame_fails_the_job_as_the_users_fault(
    paid_job: PaidJob, upstream: FakeUpstream, vertex: Settings, upload: Callable[..., str]
) -> None:
    options = _options(vertex, lastFrameKey="img_gone")
    job = paid_job(generation_type="image_to_video", image_key=upload((64, 48)), options=options)
    assert admit_waiting() == [job.id]
    assert submit_job.run(job.id) == "failed"
    assert reload_job(job).error_code == "invalid_image"
    assert upstream.requests == []


def test_every_sample_is_stored_and_listed_first_one_first(
    paid_job: PaidJob, upstream: FakeUpstream, vertex: Settings
) -> None:
    samples = (VideoRef(data=b"first sample"), VideoRef(data=b"second sample!"))
    upstream.script_next_operation(PollResult(done=True, videos=samples))
    job = _submit(paid_job, upstream, options=_options(vertex, sampleCount=2))
    assert poll_due.run() == 1
    row = reload_job(job)
    assert row.status == "completed"
    assert row.video_keys == [f"videos/{job.id}.mp4", f"videos/{job.id}-1.mp4"]
    assert row.video_key == row.video_keys[0]
    assert row.video_bytes == len(b"first sample") + len(b"second sample!")
    stored = [get_storage().read_bytes(key, 1024) for key in row.video_keys]
    assert stored == [b"first sample", b"second sample!"]
    status = _status(job)
    assert status["videoUrls"] == [get_storage().url(key) for key in row.video_keys]
    assert status["videoUrl"] == status["videoUrls"][0]


def test_a_failed_job_gives_back_exactly_its_price_once(
    upstream: FakeUpstream, vertex: Settings, account_id: str
) -> None:
    job = insert_paid_job(account_id, "four takes", credits=8, admitted=True)
    with write_session() as session:
        session.execute(
            update(Job).where(col(Job.id) == job.id).values(options=_options(vertex, sampleCount=4))
        )
        session.commit()
    assert balance(account_id) == CREDITS - 8
    upstream.refuse_submits(rejected())
    assert submit_job.run(job.id) == "failed"
    assert balance(account_id) == CREDITS
    with read_session() as session:
        refunds = session.execute(
            select(LedgerEntry.amount).where(
                col(LedgerEntry.job_id) == job.id, col(LedgerEntry.kind) == "refund"
            )
        ).all()
    assert [amount for (amount,) in refunds] == [8]
