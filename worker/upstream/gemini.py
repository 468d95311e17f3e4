"""Veo 3.1 on the Gemini API (generativelanguage.googleapis.com) over plain REST.

Wire shapes follow notes/upstream-veo.md section 1: submit with `predictLongRunning`, poll with
`GET /v1beta/{name}`, download the sample's URI. The key travels in `x-goog-api-key` only (never
`?key=`, so it stays out of access logs), and only to the origin of `base_url`.

What it shares with the Vertex adapter (the request body, reading an operation) is in
worker/upstream/longrunning.py.
"""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from shared.errors import UpstreamConfigError, UpstreamPermanentError
from worker.upstream.base import PollResult, SubmitRequest, VideoRef, VideoSettings
from worker.upstream.download import download_to, same_origin
from worker.upstream.inline import place_inline
from worker.upstream.longrunning import (
    as_dict,
    as_list,
    check_operation_name,
    check_request,
    collect_videos,
    effective_model,
    inline_video,
    keep_videos,
    no_video_failure,
    operation_name,
    poll_max_bytes,
    poll_splitter,
    predict_body,
    read_operation,
)
from worker.upstream.transport import JSON_MAX_BYTES, ClientPool, request_json

DEFAULT_MODEL = "veo-3.1-generate-preview"
API_KEY_HEADER = "x-goog-api-key"
_OPERATION_NAME = re.compile(r"models/[^/?#\s]+/operations/[^/?#\s]+")


def parse_operation(operation: Mapping[str, Any]) -> PollResult:
    """One Gemini operation: running, failed, blocked, or finished with a video."""
    return read_operation(operation, _read_response)


def _read_response(response: Mapping[str, Any]) -> PollResult:
    generated = as_dict(response.get("generateVideoResponse"))
    samples: list[PollResult] = []
    for sample in as_list(generated.get("generatedSamples")):
        video = as_dict(as_dict(sample).get("video"))
        if video.get("uri"):
            samples.append(PollResult(done=True, videos=(VideoRef(uri=str(video["uri"])),)))
        elif video.get("encodedVideo"):
            encoding = str(video.get("encoding") or "video/mp4")
            samples.append(inline_video(video["encodedVideo"], encoding))
    # Gemini nests the RAI counters inside generateVideoResponse (Vertex does not).
    return collect_videos(samples) or PollResult(done=True, failure=no_video_failure(generated))


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
        self._poll_max_bytes = poll_max_bytes(max_inline_bytes)
        self._max_inline_bytes = max_inline_bytes

    def _headers(self) -> dict[str, str]:
        if not self._api_key:
            raise UpstreamConfigError("the Gemini API key is not set (VEO_GEMINI_API_KEY)")
        return {API_KEY_HEADER: self._api_key}

    def check_key(self) -> None:
        """Raise UpstreamConfigError if no API key is set (whether it works, check_model says)."""
        self._headers()

    def _model_url(self, model: str | None = None) -> str:
        return f"{self.base_url}/v1beta/models/{quote(model or self.video.model, safe='')}"

    async def check_model(self) -> None:
        """`models.get` is unbilled; a retired preview id answers 404 "no longer available",
        and then the message names the Veo ids this key does list (`models.list`, unbilled)."""
        self.video.check()
        try:
            model = await request_json(
                self._pool,
                "GET",
                self._model_url(),
                phase="model_check",
                headers=self._headers(),
                secrets=(self._api_key,),
            )
        except UpstreamConfigError as exc:
            if exc.status != 404:
                raise
            listed = await self._listed_veo_models()
            found = ", ".join(listed) if listed else "none"
            raise UpstreamConfigError(
                f"{exc.message}; Veo models this key lists: {found}"
                + ("" if listed else " (use the vertex backend with veo-3.1-generate-001)"),
                status=404,
            ) from exc
        methods = model.get("supportedGenerationMethods")
        if isinstance(methods, list) and methods and "predictLongRunning" not in methods:
            raise UpstreamConfigError(f"model {self.video.model} cannot generate videos")

    async def _listed_veo_models(self) -> list[str]:
        """The Veo ids `models.list` shows this key (its first page of up to 1,000 models)."""
        listing = await request_json(
            self._pool,
            "GET",
            f"{self.base_url}/v1beta/models?pageSize=1000",
            phase="model_check",
            headers=self._headers(),
            secrets=(self._api_key,),
        )
        names = (as_dict(item).get("name") for item in as_list(listing.get("models")))
        return sorted(
            str(name).removeprefix("models/")
            for name in names
            if isinstance(name, str) and "veo" in name
        )

    async def submit(self, request: SubmitRequest) -> str:
        check_request(request, self.video)
        operation = await request_json(
            self._pool,
            "POST",
            f"{self._model_url(effective_model(request, self.video))}:predictLongRunning",
            phase="submit",
            headers=self._headers(),
            json_body=self.body(request),
            secrets=(self._api_key,),
        )
        return operation_name(operation)

    def body(self, request: SubmitRequest) -> dict[str, Any]:
        """The shared body; the options only Vertex takes are refused before anything is paid."""
        refused = [
            name
            for name, given in (
                ("seed", request.seed is not None),
                ("generateAudio false", request.generate_audio is False),  # always on there
                ("sampleCount above 1", request.sample_count != 1),
            )
            if given
        ]
        if refused:
            raise UpstreamConfigError(
                f"the Gemini API takes no {', '.join(refused)}: use the vertex backend"
            )
        return predict_body(request, self.video)

    async def poll(self, operation: str) -> PollResult:
        check_operation_name(operation, _OPERATION_NAME, "Gemini")
        with poll_splitter(self._max_inline_bytes) as splitter:  # an inline video: to disk
            data = await request_json(
                self._pool,
                "GET",
                f"{self.base_url}/v1beta/{quote(operation, safe='/')}",
                phase="poll",
                headers=self._headers(),
                secrets=(self._api_key,),
                max_bytes=self._poll_max_bytes,
                splitter=splitter,
            )
            return keep_videos(splitter, parse_operation(data))

    async def download(self, video: VideoRef, dest: Path, *, max_bytes: int) -> int:
        placed = place_inline(video, dest, max_bytes=max_bytes)
        if placed is not None:
            return placed
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
