"""Turning a job row into the upstream request: resolve `auto`, fetch and prepare every image
(the first frame, the last frame, the reference images), and pass the job's options on."""

import time
from typing import Any

from sqlalchemy import update

from shared.capabilities import upstream_model
from shared.db import read_session, statement_connection
from shared.errors import InputError, NetguardError, UpstreamPermanentError, invalid
from shared.job_options import default_model, from_column
from shared.lifecycle import Failure, JobRef
from shared.models import JOBS, Upload
from shared.netguard.fetch import fetch_limited
from shared.settings import Settings, get_settings
from shared.storage import get_storage
from worker.runloop import run
from worker.upstream.base import ImageInput, ReferenceImageInput, SubmitRequest
from worker.upstream.images import prepare_image, resolve_aspect_ratio

REQUEST_FIELDS = (
    "generation_type",
    "prompt",
    "aspect_ratio",
    "image_url",
    "image_key",
    "options",
)


def _image_unavailable(field: str, reason: str) -> InputError:
    return InputError(
        Failure("image_unavailable", f"Could not fetch {field}: {reason}", refund=False)
    )


def _image_bytes(key: str | None, url: str | None, field: str, deadline: float) -> bytes:
    """An image given by an upload's key or by a URL (`field` names it in the failure),
    fetched before `deadline` (time.monotonic())."""
    settings = get_settings()
    if key:
        with read_session() as session:
            upload = session.get(Upload, key)
        if upload is None:
            raise InputError(
                Failure("invalid_image", "The uploaded image no longer exists.", refund=False)
            )
        return get_storage().read_bytes(upload.storage_key, settings.upload_max_bytes)
    assert url is not None
    left_s = deadline - time.monotonic()
    if left_s <= 0:
        took = f"{settings.image_fetch_timeout_s:g} s"
        raise _image_unavailable(field, f"the images took over {took}")
    try:
        body = run(fetch_limited(url, max_bytes=settings.image_url_max_bytes, timeout_s=left_s))
    except NetguardError as exc:  # in the words the gateway uses for the field
        raise _image_unavailable(field, invalid(field, exc.reason).msg) from exc
    except Exception as exc:  # every other failure to fetch the user's URL is reported alike
        raise _image_unavailable(field, str(exc) or type(exc).__name__) from exc
    return body.content


def _image(
    key: str | None, url: str | None, field: str, deadline: float
) -> tuple[ImageInput, tuple[int, int]]:
    data = _image_bytes(key, url, field, deadline)
    try:
        return prepare_image(data, max_bytes=get_settings().upstream_image_max_bytes)
    except UpstreamPermanentError as exc:
        raise InputError(Failure(exc.code, exc.message, refund=False)) from exc


def _options(stored: dict[str, Any] | None, settings: Settings) -> dict[str, Any]:
    """The SubmitRequest fields of the job's options (none for a job older than them: the
    adapter's settings then decide, as they did)."""
    if not stored:
        return {}
    options = from_column(stored)
    model = None  # the configured id (settings.model) stands for the default model
    if options.model != default_model(settings):
        model = upstream_model(options.model, settings.upstream_protocol)
    return {
        "model": model,
        "duration_s": options.duration_s,
        "resolution": options.resolution,
        "negative_prompt": options.negative_prompt,  # "": none, whatever the settings say
        "seed": options.seed,
        "generate_audio": options.generate_audio,
        "sample_count": options.sample_count,
    }


def _extra_images(stored: dict[str, Any], deadline: float) -> dict[str, Any]:
    """The last frame and the reference images, fetched as the first image is."""
    extra: dict[str, Any] = {}
    key, url = stored.get("lastFrameKey"), stored.get("lastFrameUrl")
    if key or url:
        field = "lastFrameKey" if key else "lastFrameUrl"
        extra["last_frame"] = _image(key, url, field, deadline)[0]
    references = []
    for index, reference in enumerate(stored.get("referenceImages") or ()):
        source = "imageKey" if reference.get("imageKey") else "imageUrl"
        field = f"referenceImages.{index}.{source}"
        image = _image(reference.get("imageKey"), reference.get("imageUrl"), field, deadline)[0]
        references.append(ReferenceImageInput(image, reference.get("referenceType", "asset")))
    if references:
        extra["reference_images"] = tuple(references)
    return extra


def build_request(job: JobRef) -> SubmitRequest:
    """The upstream request for a job (a Job, or a row with its id and REQUEST_FIELDS); the
    aspect ratio `auto` resolved to is stored on the job, for its status."""
    settings = get_settings()
    deadline = time.monotonic() + settings.image_fetch_timeout_s
    image, size = None, None
    if job.generation_type == "image_to_video":
        image, size = _image(job.image_key, job.image_url, "imageUrl", deadline)
    fields = _options(job.options, settings) | _extra_images(job.options or {}, deadline)
    ratio = resolve_aspect_ratio(job.aspect_ratio, size)
    if job.aspect_ratio == "auto":
        _record_aspect_ratio(job.id, ratio)
    return SubmitRequest(prompt=job.prompt, aspect_ratio=ratio, image=image, **fields)


def _record_aspect_ratio(job_id: str, ratio: str) -> None:
    with statement_connection() as connection:
        connection.execute(update(JOBS).where(JOBS.c.id == job_id).values(aspect_ratio_used=ratio))
