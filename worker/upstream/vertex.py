"""Veo 3.1 on Vertex AI, where the GA `-001` model ids live (notes/upstream-veo.md section 2).

Submit with `predictLongRunning`, poll with `POST {model}:fetchPredictOperation`, and read the
video either inline (base64 in the operation) or from Cloud Storage when `storageUri` is set.
Auth is an OAuth bearer token from a service account (or application default credentials),
refreshed in a thread only when it has expired, and sent only to the Vertex and GCS origins.
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
from worker.upstream.vertex_auth import TokenSource

DEFAULT_MODEL = "veo-3.1-generate-001"
DEFAULT_GCS_BASE_URL = "https://storage.googleapis.com"
_OPERATION_NAME = re.compile(
    r"projects/[^/?#\s]+/locations/[^/?#\s]+/publishers/google/models/[^/?#\s]+"
    r"/operations/[^/?#\s]+"
)
_GCS_URI = re.compile(r"gs://([^/]+)/(.+)")
_OPERATION_LOCATION = re.compile(r"^projects/[^/]+/locations/([a-z0-9-]+)/")


def operation_base_url(operation: str) -> str | None:
    """The Vertex AI endpoint of the location an operation name carries (None: it names none)."""
    match = _OPERATION_LOCATION.search(operation)
    return f"https://{_host(match.group(1))}" if match else None


def _host(location: str) -> str:
    """Vertex AI's host for a location: regional, or the global endpoint."""
    if location == "global":
        return "aiplatform.googleapis.com"
    return f"{location}-aiplatform.googleapis.com"


def parse_operation(operation: Mapping[str, Any]) -> PollResult:
    """One Vertex operation: running, failed, blocked, or finished with a video."""
    return read_operation(operation, _read_response)


def _read_response(response: Mapping[str, Any]) -> PollResult:
    samples: list[PollResult] = []
    for item in as_list(response.get("videos")):
        video = as_dict(item)
        mime_type = str(video.get("mimeType") or "video/mp4")
        if video.get("gcsUri"):
            ref = VideoRef(uri=str(video["gcsUri"]), mime_type=mime_type)
            samples.append(PollResult(done=True, videos=(ref,)))
        elif video.get("bytesBase64Encoded"):
            samples.append(inline_video(video["bytesBase64Encoded"], mime_type))
    # Vertex keeps the RAI counters on `response` itself (Gemini nests them one level down).
    return collect_videos(samples) or PollResult(done=True, failure=no_video_failure(response))


class VertexUpstream:
    """The Vertex AI adapter: service-account bearer token, GA model ids, inline or GCS output."""

    def __init__(
        self,
        *,
        project: str,
        location: str,
        video: VideoSettings,
        base_url: str = "",
        credentials_file: str = "",
        token_url: str = "",
        output_gcs_uri: str = "",
        pubsub_topic: str = "",
        gcs_base_url: str = DEFAULT_GCS_BASE_URL,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        max_inline_bytes: int = JSON_MAX_BYTES,
        name: str = "vertex",
    ) -> None:
        self.name = name
        self.project = project
        self.location = location
        self.video = video
        self.base_url = (base_url or f"https://{_host(location)}").rstrip("/")
        self._fixed_base_url = bool(base_url)  # else each operation's own region is polled
        self.gcs_base_url = gcs_base_url.rstrip("/")
        self.output_gcs_uri = output_gcs_uri
        self.pubsub_topic = pubsub_topic
        self._origins = (httpx.URL(self.base_url), httpx.URL(self.gcs_base_url))
        self._tokens = TokenSource(
            credentials_file=credentials_file, token_url=token_url, timeout_s=timeout_s
        )
        self._pool = ClientPool(timeout_s=timeout_s, connect_timeout_s=connect_timeout_s)
        # Without storageUri the finished operation carries the video inline.
        self._poll_max_bytes = poll_max_bytes(max_inline_bytes)
        self._max_inline_bytes = max_inline_bytes

    async def _auth(self) -> tuple[dict[str, str], tuple[str, ...]]:
        """The credentials' headers, and the secret among them (the token) to scrub."""
        headers = await self._tokens.headers()
        return headers, (await self._tokens.token(),)

    async def describe_credentials(self) -> str:
        """Load and refresh the credentials (unbilled): what they are, and the project the
        calls go to. Raises the classified error when they do not work."""
        await self._tokens.token()
        project = self._model_resource().split("/")[1]
        return f"token refreshed for {self._tokens.describe()}; project {project}"

    def _poll_base_url(self, operation: str) -> str:
        """The regional host of the operation's own location: an operation started in
        us-central1 is polled there even after VEO_VERTEX_LOCATION changes."""
        if self._fixed_base_url:
            return self.base_url
        return operation_base_url(operation) or self.base_url

    def _model_resource(self, model: str | None = None) -> str:
        project = self.project or self._tokens.project_id
        if not project:
            raise UpstreamConfigError("VEO_VERTEX_PROJECT is not set and the credentials name none")
        return (
            f"projects/{quote(project, safe='')}/locations/{quote(self.location, safe='')}"
            f"/publishers/google/models/{quote(model or self.video.model, safe='')}"
        )

    async def check_model(self) -> None:
        """Model Garden `publishers.models.get`: an unbilled metadata read.

        A 404 means the id is unknown (config error); success also proves the token works. It
        cannot prove this project may call the model, or that a model still listed is not being
        retired: Vertex has no unbilled dry run of `predictLongRunning`, so the first submit is
        the real test.
        """
        self.video.check()
        headers, secrets = await self._auth()
        await request_json(
            self._pool,
            "GET",
            f"{self.base_url}/v1/publishers/google/models/{quote(self.video.model, safe='')}",
            phase="model_check",
            headers=headers,
            secrets=secrets,
        )

    async def submit(self, request: SubmitRequest) -> str:
        check_request(request, self.video)
        headers, secrets = await self._auth()
        operation = await request_json(
            self._pool,
            "POST",
            f"{self.base_url}/v1/{self._model_resource(effective_model(request, self.video))}"
            ":predictLongRunning",
            phase="submit",
            headers=headers,
            json_body=self.body(request),
            secrets=secrets,
        )
        return operation_name(operation)

    def body(self, request: SubmitRequest) -> dict[str, Any]:
        """The `predictLongRunning` body: the shared one plus what only Vertex takes."""
        extra: dict[str, Any] = {}
        if self.output_gcs_uri:
            extra["storageUri"] = self.output_gcs_uri
        if self.pubsub_topic:  # Vertex publishes the operation's progress there
            extra["pubsubTopic"] = self.pubsub_topic
        if request.seed is not None:
            extra["seed"] = request.seed
        # Sent even when on: whether Vertex defaults it on for every Veo 3.1 model is unconfirmed.
        extra["generateAudio"] = (
            self.video.generate_audio if request.generate_audio is None else request.generate_audio
        )
        return predict_body(request, self.video, **extra)

    async def poll(self, operation: str) -> PollResult:
        check_operation_name(operation, _OPERATION_NAME, "Vertex")
        resource = operation.rpartition("/operations/")[0]  # as the SDK derives it
        headers, secrets = await self._auth()
        with poll_splitter(self._max_inline_bytes) as splitter:  # an inline video: to disk
            data = await request_json(
                self._pool,
                "POST",
                f"{self._poll_base_url(operation)}/v1/{quote(resource, safe='/')}"
                ":fetchPredictOperation",
                phase="poll",
                headers=headers,
                json_body={"operationName": operation},
                secrets=secrets,
                max_bytes=self._poll_max_bytes,
                splitter=splitter,
            )
            return keep_videos(splitter, parse_operation(data))

    async def download(self, video: VideoRef, dest: Path, *, max_bytes: int) -> int:
        placed = place_inline(video, dest, max_bytes=max_bytes)
        if placed is not None:
            return placed
        match = _GCS_URI.fullmatch(video.uri or "")
        if match is None:
            raise UpstreamPermanentError("not a gs:// video URI", code="upstream_bad_url")
        bucket, obj = match.groups()
        url = (
            f"{self.gcs_base_url}/storage/v1/b/{quote(bucket, safe='')}"
            f"/o/{quote(obj, safe='')}?alt=media"
        )
        headers, secrets = await self._auth()

        def headers_for(target: httpx.URL) -> dict[str, str]:
            """The token goes to the Vertex and GCS origins only, never to a redirect elsewhere."""
            return headers if any(same_origin(target, o) for o in self._origins) else {}

        return await download_to(
            self._pool,
            url,
            dest,
            max_bytes=max_bytes,
            headers_for=headers_for,
            secrets=secrets,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
