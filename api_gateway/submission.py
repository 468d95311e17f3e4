"""Turning a validated request into a paid, committed job row; its message leaves after the
commit, in a batch (api_gateway/batching/). `create_video` is the whole work of
POST /api/generate-video once the caller is admitted, behind both of its doors (the route in
routes/generate.py and SubmitFastPath in api_gateway/asgi.py).

The debit and the insert are one unit (shared.credits.insert_paid_jobs); the debit is a
conditional UPDATE, so concurrent requests can never take a balance below zero. An
Idempotency-Key replays the original job.
"""

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from api_gateway.batching.pipeline import SubmitPipeline
from api_gateway.db_threads import in_db_thread
from api_gateway.errors import ok
from api_gateway.options import OPTION_FIELDS, priced_options
from api_gateway.schemas import GenerateVideoData, GenerateVideoRequest
from shared.db import read_session
from shared.errors import UnsafeUrl, invalid
from shared.job_options import echoed
from shared.logs import log_context
from shared.metrics import gateway as gateway_metrics
from shared.models import Job, Upload, new_job_row
from shared.netguard.addresses import check_url
from shared.settings import get_settings
from shared.states import PUBLIC_STATUS, JobStatus
from shared.timeutil import iso_z

log = logging.getLogger(__name__)
IDEMPOTENCY_KEY_MAX = 255


@dataclass(frozen=True)
class Submitted:
    job: dict[str, Any]  # the job's columns
    replayed: bool


def _check_outbound(url: str, field: str) -> None:
    """A URL the server will fetch or post to must reach only the internet: 1000 for `field`."""
    try:
        check_url(url)
    except UnsafeUrl as exc:
        raise invalid(field, exc.reason) from exc


def _check_upload(key: str, account_id: str, field: str) -> None:
    with read_session() as session:
        upload = session.get(Upload, key)
    if upload is None or upload.account_id != account_id:
        raise invalid(field, "no upload with this key")


def _check_extra_images(request: GenerateVideoRequest, account_id: str) -> None:
    """The last frame and the reference images, as the first image is checked."""
    if request.lastFrameUrl is not None and request.lastFrameKey is not None:
        raise invalid("lastFrameUrl", "give lastFrameUrl or lastFrameKey, not both")
    if request.lastFrameKey is not None:
        _check_upload(request.lastFrameKey, account_id, "lastFrameKey")
    if request.lastFrameUrl is not None:
        _check_outbound(request.lastFrameUrl, "lastFrameUrl")
    for index, reference in enumerate(request.referenceImages or ()):
        field = f"referenceImages.{index}"
        if (reference.imageKey is None) == (reference.imageUrl is None):
            raise invalid(f"{field}.imageKey", "give imageKey or imageUrl (one of them)")
        if reference.imageKey is not None:
            _check_upload(reference.imageKey, account_id, f"{field}.imageKey")
        if reference.imageUrl is not None:
            _check_outbound(reference.imageUrl, f"{field}.imageUrl")


def validate(request: GenerateVideoRequest, account_id: str) -> GenerateVideoRequest:
    """Checks pydantic cannot express: prompt bounds, image rules, URL safety."""
    settings = get_settings()
    prompt = request.prompt.strip()
    if not prompt:
        raise invalid("prompt", "must not be blank")
    if len(prompt) > settings.prompt_max_chars:
        raise invalid("prompt", f"longer than {settings.prompt_max_chars} characters")
    if request.imageKey is not None:
        _check_upload(request.imageKey, account_id, "imageKey")
    if request.imageUrl is not None:
        _check_outbound(request.imageUrl, "imageUrl")
    if request.generationType == "image_to_video" and not (request.imageUrl or request.imageKey):
        raise invalid("imageUrl", "required for image_to_video (or give imageKey)")
    if request.generationType == "text_to_video" and (request.imageUrl or request.imageKey):
        raise invalid("imageUrl", "only allowed for image_to_video")
    _check_extra_images(request, account_id)
    if request.webhookUrl is not None:
        _check_outbound(request.webhookUrl, "webhookUrl")
    return request if prompt == request.prompt else request.model_copy(update={"prompt": prompt})


def request_fingerprint(request: GenerateVideoRequest) -> str:
    """A body's hash; options not given are left out, so a body without them hashes as it did
    before they existed (an Idempotency-Key used then still replays)."""
    unset = {name for name in OPTION_FIELDS if getattr(request, name) is None}
    canonical = json.dumps(request.model_dump(exclude=unset), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _find_replay(session: Session, account_id: str, key: str, fingerprint: str) -> Job | None:
    job = session.execute(
        select(Job).where(col(Job.account_id) == account_id, col(Job.idempotency_key) == key)
    ).scalar_one_or_none()
    if job is not None and job.request_hash != fingerprint:
        raise invalid("Idempotency-Key", "already used with a different request body")
    return job


PaidInsert = Callable[[dict[str, Any]], Awaitable[None]]


def prepare(
    request: GenerateVideoRequest, account_id: str, idempotency_key: str | None
) -> Submitted | dict[str, Any]:
    """The new job's row, or the replay of the job this Idempotency-Key already made. Blocks
    (database, DNS) only when `needs_lookups` says so."""
    if idempotency_key is not None and not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
        raise invalid("Idempotency-Key", f"must be 1 to {IDEMPOTENCY_KEY_MAX} characters")
    request = validate(request, account_id)
    fingerprint = None  # only a key's replay compares bodies
    if idempotency_key is not None:
        fingerprint = request_fingerprint(request)
        replay = _replay(account_id, idempotency_key, fingerprint)
        if replay is not None:
            return replay
    price, options = priced_options(request)
    return new_job_row(
        account_id=account_id,
        generation_type=request.generationType,
        prompt=request.prompt,
        aspect_ratio=request.aspectRatio,
        image_url=request.imageUrl,
        image_key=request.imageKey,
        credits_charged=price,
        options=options,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        webhook_url=request.webhookUrl,
        webhook_events=list(request.webhookEvents) if request.webhookEvents else None,
    )


def needs_lookups(request: GenerateVideoRequest, idempotency_key: str | None) -> bool:
    """Whether `prepare` reads the database (upload, replay) or resolves a host (URL checks)."""
    return bool(
        idempotency_key
        or request.imageKey
        or request.imageUrl
        or request.webhookUrl
        or request.lastFrameUrl
        or request.lastFrameKey
        or request.referenceImages
    )


async def submit(
    request: GenerateVideoRequest,
    account_id: str,
    idempotency_key: str | None,
    insert: PaidInsert,
) -> Submitted:
    """Validate, then insert the paid job with `insert` (concurrent requests' rows go to the
    database together: api_gateway/batching/pipeline.py)."""
    if needs_lookups(request, idempotency_key):
        prepared = await in_db_thread(prepare, request, account_id, idempotency_key)
    else:
        prepared = prepare(request, account_id, idempotency_key)
    if isinstance(prepared, Submitted):
        return prepared
    try:
        await insert(prepared)
    except IntegrityError:
        # Lost a race with the same Idempotency-Key: the winner's job is the answer.
        if idempotency_key is None:
            raise
        fingerprint = prepared["request_hash"]
        existing = await in_db_thread(_replay, account_id, idempotency_key, fingerprint)
        if existing is None:
            raise
        return existing
    return Submitted(prepared, replayed=False)


def _replay(account_id: str, key: str, fingerprint: str) -> Submitted | None:
    with read_session() as session:
        existing = _find_replay(session, account_id, key, fingerprint)
    return None if existing is None else Submitted(existing.model_dump(), replayed=True)


def report_created(job: dict[str, Any]) -> None:
    """A new paid job: counted, and logged under its uuid and account (shared/logs.py)."""
    gateway_metrics.job_created(job.get("credits_charged") or 0)
    with log_context(job["id"], job["account_id"]):
        log.info("job %s created (%s)", job["id"], job["generation_type"])


async def create_video(
    pipeline: SubmitPipeline,
    body: GenerateVideoRequest,
    account_id: str,
    idempotency_key: str | None,
) -> JSONResponse:
    """The new (or replayed) job's answer; a new job's message leaves once it is committed."""
    result = await submit(body, account_id, idempotency_key, pipeline.paid_inserts)
    job = result.job
    if not result.replayed:  # committed: its message may leave
        pipeline.publisher.add(job["id"])
        report_created(job)
    data = GenerateVideoData(
        credits=job["credits_charged"],
        **echoed(job["options"]),
        uuid=job["id"],
        status=PUBLIC_STATUS[JobStatus(job["status"])],  # type: ignore[arg-type]
        generationType=job["generation_type"],
        prompt=job["prompt"],
        aspectRatio=job["aspect_ratio"],
        createdAt=iso_z(job["created_at"]),
    ).model_dump()
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return ok(data, headers=headers)
