"""Veo 3.1 on the Gemini API (generativelanguage.googleapis.com) over plain REST.

Wire shapes follow notes/upstream-veo.md section 1: submit with `predictLongRunning`, poll with
`GET /v1beta/{name}`, download the sample's URI. The key travels in `x-goog-api-key` only (never
`?key=`, so it stays out of access logs), and only to the origin of `base_url`.

The request-body builder and the operation-outcome helpers are shared with the Vertex adapter:
both surfaces speak the same `predictLongRunning` instance shape and google.rpc error shape.
"""

import base64
import binascii
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from shared.errors import UpstreamConfigError, UpstreamPermanentError
from worker.upstream.base import PollResult, SubmitRequest, VideoRef, VideoSettings
from worker.upstream.classify import MESSAGE_MAX_CHARS
from worker.upstream.download import download_to, same_origin, write_capped
from worker.upstream.transport import JSON_MAX_BYTES, ClientPool, request_json

DEFAULT_MODEL = "veo-3.1-generate-preview"
API_KEY_HEADER = "x-goog-api-key"
_OPERATION_NAME = re.compile(r"models/[^/?#\s]+/operations/[^/?#\s]+")


def predict_body(
    request: SubmitRequest, video: VideoSettings, **extra_parameters: Any
) -> dict[str, Any]:
    """The `predictLongRunning` body both surfaces share; Vertex adds its own parameters."""
    instance: dict[str, Any] = {"prompt": request.prompt}
    parameters: dict[str, Any] = {
        "aspectRatio": request.aspect_ratio,
        "resolution": video.resolution,
        "durationSeconds": int(video.duration_s),  # the SDK sends an int
        "sampleCount": 1,
    }
    if request.image is not None:
        # The SDK's shape; the REST guide's `inlineData` is reported to answer 400.
        instance["image"] = {
            "bytesBase64Encoded": base64.b64encode(request.image.data).decode("ascii"),
            "mimeType": request.image.mime_type,
        }
        parameters["personGeneration"] = "allow_adult"  # the only value image-to-video accepts
    # Text-to-video leaves personGeneration out: allow_adult is rejected there, and allow_all
    # is refused in the EU/UK/CH/MENA; the default is accepted everywhere.
    if video.negative_prompt:
        parameters["negativePrompt"] = video.negative_prompt
    parameters.update(extra_parameters)
    return {"instances": [instance], "parameters": parameters}


def as_dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def operation_failure(error: Mapping[str, Any]) -> UpstreamPermanentError:
    """`done` with `error` (a google.rpc.Status): the operation failed, with Google's words."""
    code = error.get("code")
    message = str(error.get("message") or "no message")
    return UpstreamPermanentError(
        f"upstream operation failed (code {code}): {message}"[:MESSAGE_MAX_CHARS],
        code="upstream_failed",
    )


def no_video_failure(counters: Mapping[str, Any]) -> UpstreamPermanentError:
    """`done` without a video: an RAI block if `counters` holds the filter fields, else a mystery.

    Callers pass the object that holds `raiMediaFilteredCount/Reasons` on their surface; a parser
    that reads the wrong level calls a blocked job a success and never refunds it.
    """
    reasons = [str(reason) for reason in as_list(counters.get("raiMediaFilteredReasons")) if reason]
    count = counters.get("raiMediaFilteredCount")
    if reasons or (isinstance(count, int) and count > 0):
        text = "; ".join(reasons) or f"{count} video(s) filtered by the upstream safety system"
        # The upstream does not charge for blocked videos, so neither do we.
        return UpstreamPermanentError(text[:MESSAGE_MAX_CHARS], code="content_blocked", refund=True)
    return UpstreamPermanentError("upstream finished without a video", code="upstream_no_video")


def decode_inline(encoded: Any) -> bytes:
    """Base64 video bytes from an operation; a corrupt payload will not improve on re-polling."""
    try:
        return base64.b64decode(str(encoded), validate=True)
    except (binascii.Error, ValueError):
        raise UpstreamPermanentError(
            "upstream returned undecodable video bytes", code="upstream_bad_response"
        ) from None


def parse_operation(operation: Mapping[str, Any]) -> PollResult:
    """One Gemini operation: running, failed, blocked, or finished with a video."""
    if not operation.get("done"):  # left out while running (proto3 default)
        return PollResult(done=False)
    error = operation.get("error")
    if isinstance(error, Mapping):
        return PollResult(done=True, failure=operation_failure(error))
    generated = as_dict(as_dict(operation.get("response")).get("generateVideoResponse"))
    for sample in as_list(generated.get("generatedSamples")):
        video = as_dict(as_dict(sample).get("video"))
        if video.get("uri"):
            return PollResult(done=True, video=VideoRef(uri=str(video["uri"])))
        if video.get("encodedVideo"):
            try:
                data = decode_inline(video["encodedVideo"])
            except UpstreamPermanentError as exc:
                return PollResult(done=True, failure=exc)
            mime_type = str(video.get("encoding") or "video/mp4")
            return PollResult(done=True, video=VideoRef(data=data, mime_type=mime_type))
    # Gemini nests the RAI counters inside generateVideoResponse (Vertex does not).
    return PollResult(done=True, failure=no_video_failure(generated))


class GeminiUpstream:
    """The Gemini API adapter: one pooled client, the key only in a header to its own origin."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        video: VideoSettings,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        max_inline_bytes: int = JSON_MAX_BYTES,
        name: str = "gemini",
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.video = video
        self._origin = httpx.URL(self.base_url)
        self._api_key = api_key
        self._pool = ClientPool(timeout_s=timeout_s, connect_timeout_s=connect_timeout_s)
        # A finished operation may carry the video inline (base64, a third larger).
        self._poll_max_bytes = max(JSON_MAX_BYTES, max_inline_bytes * 4 // 3 + JSON_MAX_BYTES)

    def _headers(self) -> dict[str, str]:
        if not self._api_key:
            raise UpstreamConfigError("the Gemini API key is not set (VEO_GEMINI_API_KEY)")
        return {API_KEY_HEADER: self._api_key}

    def _model_url(self) -> str:
        return f"{self.base_url}/v1beta/models/{quote(self.video.model, safe='')}"

    async def check_model(self) -> None:
        """`models.get` is unbilled; a retired preview id answers 404 "no longer available"."""
        self.video.check()
        model = await request_json(
            self._pool,
            "GET",
            self._model_url(),
            phase="model_check",
            headers=self._headers(),
            secrets=(self._api_key,),
        )
        methods = model.get("supportedGenerationMethods")
        if isinstance(methods, list) and methods and "predictLongRunning" not in methods:
            raise UpstreamConfigError(f"model {self.video.model} cannot generate videos")

    async def submit(self, request: SubmitRequest) -> str:
        self.video.check()
        operation = await request_json(
            self._pool,
            "POST",
            f"{self._model_url()}:predictLongRunning",
            phase="submit",
            headers=self._headers(),
            json_body=predict_body(request, self.video),
            secrets=(self._api_key,),
        )
        name = operation.get("name")
        if not isinstance(name, str) or not name:
            raise UpstreamPermanentError(
                "upstream accepted the submit but named no operation", code="upstream_bad_response"
            )
        return name

    async def poll(self, operation: str) -> PollResult:
        if not _OPERATION_NAME.fullmatch(operation) or ".." in operation:
            raise UpstreamPermanentError(
                "not a Gemini operation name", code="upstream_operation_lost"
            )
        data = await request_json(
            self._pool,
            "GET",
            f"{self.base_url}/v1beta/{quote(operation, safe='/')}",
            phase="poll",
            headers=self._headers(),
            secrets=(self._api_key,),
            max_bytes=self._poll_max_bytes,
        )
        return parse_operation(data)

    async def download(self, video: VideoRef, dest: Path, *, max_bytes: int) -> int:
        if video.data is not None:
            return write_capped(video.data, dest, max_bytes=max_bytes)
        if not video.uri:
            raise UpstreamPermanentError("no video to download", code="upstream_no_video")
        return await download_to(
            self._pool,
            video.uri,
            dest,
            max_bytes=max_bytes,
            headers_for=self._download_headers,
            secrets=(self._api_key,),
        )

    def _download_headers(self, url: httpx.URL) -> dict[str, str]:
        """The key goes to our configured origin only, never to a redirect target elsewhere."""
        return self._headers() if same_origin(url, self._origin) else {}

    async def aclose(self) -> None:
        await self._pool.aclose()
