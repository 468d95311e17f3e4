"""What the sync and the async client share: the requests each method makes, the envelope, and
when a failed request is tried again. The clients only do the I/O."""

import os
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypedDict, cast
from urllib.parse import urljoin, urlsplit

import httpx

from veo_client.errors import (
    ConnectionFailed,
    RateLimited,
    ServerError,
    VeoError,
    error_for,
    parse_retry_after,
)
from veo_client.models import ReferenceImage

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
USER_AGENT = "veo-client/0.1"
MAX_PREFER_WAIT = 60  # the most the API waits for one `Prefer: wait=N`

# Local image: a path, or the bytes themselves. A str starting with http(s):// is a URL.
ImageInput = str | Path | bytes


class GenerateOptions(TypedDict, total=False):
    """Every option of POST /api/generate-video besides the prompt and the images to upload;
    None (like leaving one out) sends nothing, and the gateway's default applies."""

    generation_type: Literal["text_to_video", "image_to_video"] | None
    aspect_ratio: Literal["auto", "16:9", "9:16"] | None
    model: str | None
    duration_seconds: int | None
    resolution: str | None
    negative_prompt: str | None
    seed: int | None
    generate_audio: bool | None
    sample_count: int | None
    image_url: str | None
    image_key: str | None
    last_frame_url: str | None
    last_frame_key: str | None
    reference_images: Sequence[ReferenceImage | dict[str, str]] | None
    webhook_url: str | None
    webhook_events: list[str] | None


_WIRE_NAMES = {
    "generation_type": "generationType",
    "aspect_ratio": "aspectRatio",
    "model": "model",
    "duration_seconds": "durationSeconds",
    "resolution": "resolution",
    "negative_prompt": "negativePrompt",
    "seed": "seed",
    "generate_audio": "generateAudio",
    "sample_count": "sampleCount",
    "image_url": "imageUrl",
    "image_key": "imageKey",
    "last_frame_url": "lastFrameUrl",
    "last_frame_key": "lastFrameKey",
    "reference_images": "referenceImages",
    "webhook_url": "webhookUrl",
    "webhook_events": "webhookEvents",
}


@dataclass(frozen=True)
class Call:
    """One API request. `retry_safe`: repeating it cannot do the work twice (reads, and a
    submit that carries an Idempotency-Key), so it is retried on 5000 and lost answers too."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_safe: bool = True
    timeout: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a `Retry-After` from the API wins over it."""

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0  # a longer Retry-After is raised to the caller at once

    def delay(self, call: Call, error: Exception, attempt: int) -> float | None:
        """Seconds before trying `call` again after `error`, or None to give up."""
        if attempt >= self.max_retries:
            return None
        if isinstance(error, RateLimited):
            # Refused before any work was done: safe to repeat whatever the call.
            return self._honour(error.retry_after, attempt)
        if isinstance(error, ServerError) and call.retry_safe:
            return self._honour(parse_retry_after(error.headers.get("retry-after")), attempt)
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return self.backoff_delay(attempt)  # the request never left this machine
        if isinstance(error, httpx.TransportError) and call.retry_safe:
            return self.backoff_delay(attempt)
        return None

    def _honour(self, retry_after: float | None, attempt: int) -> float | None:
        if retry_after is None:
            return self.backoff_delay(attempt)
        return retry_after if retry_after <= self.max_retry_after else None

    def backoff_delay(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * 2.0**attempt) * random.uniform(0.5, 1.0)


def settings(api_key: str | None, base_url: str | None) -> tuple[str | None, str]:
    """Arguments first, then VEO_API_KEY / VEO_BASE_URL."""
    key = api_key or os.environ.get("VEO_API_KEY") or None
    url = base_url or os.environ.get("VEO_BASE_URL") or DEFAULT_BASE_URL
    return key, url.rstrip("/")


def auth_headers(api_key: str | None) -> dict[str, str]:
    if not api_key:
        raise VeoError("no API key: pass api_key= or set VEO_API_KEY", code=1002)
    return {"Authorization": f"Bearer {api_key}"}


def parse(response: httpx.Response) -> Any:
    """`data` of a `{code: 0}` answer; the mapped exception for anything else."""
    try:
        body = response.json()
    except ValueError:
        body = None
    headers = dict(response.headers)
    if isinstance(body, dict) and isinstance(body.get("code"), int):
        if body["code"] == 0:
            return body.get("data")
        msg = str(body.get("msg") or "error")
        raise error_for(body["code"], msg, body.get("data"), response.status_code, headers)
    if response.is_success:
        raise ServerError(
            f"HTTP {response.status_code}: the answer is not the API's envelope",
            status_code=response.status_code,
            headers=headers,
        )
    text = response.text[:200].strip() or response.reason_phrase
    raise error_for(
        None, f"HTTP {response.status_code}: {text}", None, response.status_code, headers
    )


def connection_failed(exc: httpx.TransportError, base_url: str) -> ConnectionFailed:
    return ConnectionFailed(f"no answer from {base_url}: {exc or type(exc).__name__}")


def new_idempotency_key() -> str:
    return f"veo-client-{secrets.token_hex(16)}"


def is_url(value: ImageInput) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def place_image(options: GenerateOptions, name: str, value: ImageInput, key: str | None) -> None:
    """`image` becomes image_url (a URL) or image_key (uploaded); likewise `last_frame`."""
    fields = cast(dict[str, Any], options)
    if key is None:
        fields[f"{name}_url"] = value
    else:
        fields[f"{name}_key"] = key


def content_length(headers: httpx.Headers) -> int | None:
    value = headers.get("content-length")
    return int(value) if value and value.isdigit() else None


def image_file(value: str | Path | bytes) -> tuple[str, bytes, str]:
    """(filename, content, content type) of a local image for a multipart upload."""
    if isinstance(value, bytes):
        content, name = value, "image"
    else:
        path = Path(value).expanduser()
        content, name = path.read_bytes(), path.name
    return name, content, sniff_image_type(content)


def sniff_image_type(content: bytes) -> str:
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def generate_body(prompt: str, options: GenerateOptions) -> dict[str, Any]:
    """The JSON body; only the options given, so a seed-era gateway gets a seed request."""
    body: dict[str, Any] = {"prompt": prompt}
    for name, value in options.items():
        if value is not None and name != "reference_images":
            body[_WIRE_NAMES[name]] = value
    if options.get("reference_images"):
        body["referenceImages"] = [reference_wire(i) for i in options["reference_images"] or []]
    if "generationType" not in body:
        has_image = "imageUrl" in body or "imageKey" in body
        body["generationType"] = "image_to_video" if has_image else "text_to_video"
    return body


def reference_wire(item: ReferenceImage | dict[str, str]) -> dict[str, str]:
    if isinstance(item, ReferenceImage):
        return item.model_dump(by_alias=True, exclude_none=True, exclude_unset=False)
    return dict(item)


def generate_call(
    body: dict[str, Any], idempotency_key: str | None, wait: int | None, timeout: float
) -> Call:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    headers.update(prefer_wait(wait))
    return Call(
        "POST",
        "/api/generate-video",
        json=body,
        headers=headers,
        retry_safe=idempotency_key is not None,
        timeout=timeout + (wait or 0),
    )


def status_call(uuid: str, wait: int | None, timeout: float) -> Call:
    return Call(
        "GET", f"/api/video-status/{uuid}", headers=prefer_wait(wait), timeout=timeout + (wait or 0)
    )


def prefer_wait(wait: int | None) -> dict[str, str]:
    if not wait or wait <= 0:
        return {}
    return {"Prefer": f"wait={min(int(wait), MAX_PREFER_WAIT)}"}


def list_params(
    limit: int,
    cursor: str | None,
    status: str | None,
    created_after: datetime | str | None,
    created_before: datetime | str | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit, "cursor": cursor, "status": status}
    params["createdAfter"] = iso(created_after)
    params["createdBefore"] = iso(created_before)
    return {k: v for k, v in params.items() if v is not None}


def iso(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat().replace("+00:00", "Z")


def absolute_url(base_url: str, url: str) -> str:
    return urljoin(base_url + "/", url)


def same_origin(base_url: str, url: str) -> bool:
    """Our API key goes only to the gateway, never to a storage host's presigned URL."""
    a, b = urlsplit(base_url), urlsplit(url)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def download_target(path: str | Path | None, url: str) -> Path:
    name = Path(urlsplit(url).path).name or "video.mp4"
    if path is None:
        return Path(name)
    target = Path(path).expanduser()
    return target / name if target.is_dir() else target
