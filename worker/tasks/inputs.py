"""Turning a job row into the upstream request: resolve `auto`, fetch and prepare the image."""

from shared.db import read_session
from shared.errors import InputError, NetguardError, UpstreamPermanentError, invalid
from shared.lifecycle import Failure, JobRef
from shared.models import Upload
from shared.netguard.fetch import fetch_limited
from shared.settings import get_settings
from shared.storage import get_storage
from worker.runloop import run
from worker.upstream.base import SubmitRequest
from worker.upstream.images import prepare_image, resolve_aspect_ratio

IMAGE_FETCH_TIMEOUT_S = 30.0
REQUEST_FIELDS = ("generation_type", "prompt", "aspect_ratio", "image_url", "image_key")


def _image_unavailable(reason: str) -> InputError:
    return InputError(
        Failure("image_unavailable", f"Could not fetch imageUrl: {reason}", refund=False)
    )


def _image_bytes(job: JobRef) -> bytes:
    settings = get_settings()
    if job.image_key:
        with read_session() as session:
            upload = session.get(Upload, job.image_key)
        if upload is None:
            raise InputError(
                Failure("invalid_image", "The uploaded image no longer exists.", refund=False)
            )
        return get_storage().read_bytes(upload.storage_key, settings.upload_max_bytes)
    assert job.image_url is not None
    try:
        body = run(
            fetch_limited(
                job.image_url,
                max_bytes=settings.image_url_max_bytes,
                timeout_s=IMAGE_FETCH_TIMEOUT_S,
            )
        )
    except NetguardError as exc:  # in the words the gateway uses for the field
        raise _image_unavailable(invalid("imageUrl", exc.reason).msg) from exc
    except Exception as exc:  # every other failure to fetch the user's URL is reported alike
        raise _image_unavailable(str(exc) or type(exc).__name__) from exc
    return body.content


def build_request(job: JobRef) -> SubmitRequest:
    """The upstream request for a job (a Job, or a row with its REQUEST_FIELDS)."""
    if job.generation_type != "image_to_video":
        return SubmitRequest(
            prompt=job.prompt, aspect_ratio=resolve_aspect_ratio(job.aspect_ratio, None)
        )
    data = _image_bytes(job)
    try:
        image, size = prepare_image(data, max_bytes=get_settings().upstream_image_max_bytes)
    except UpstreamPermanentError as exc:
        raise InputError(Failure(exc.code, exc.message, refund=False)) from exc
    return SubmitRequest(
        prompt=job.prompt, aspect_ratio=resolve_aspect_ratio(job.aspect_ratio, size), image=image
    )
