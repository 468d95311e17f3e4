"""Veo 3.1 on Vertex AI, where the GA `-001` model ids live (notes/upstream-veo.md section 2).

Submit with `predictLongRunning`, poll with `POST {model}:fetchPredictOperation`, and read the
video either inline (base64 in the operation) or from Cloud Storage when `storageUri` is set.
Auth is an OAuth bearer token from a service account (or application default credentials),
refreshed in a thread only when it has expired, and sent only to the Vertex and GCS origins.
"""

import asyncio
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
import httpx
from google.oauth2 import service_account

from shared.errors import UpstreamConfigError, UpstreamPermanentError, UpstreamTransientError
from worker.upstream.base import PollResult, SubmitRequest, VideoRef, VideoSettings
from worker.upstream.classify import MESSAGE_MAX_CHARS
from worker.upstream.download import download_to, same_origin, write_capped
from worker.upstream.longrunning import (
    as_dict,
    as_list,
    check_operation_name,
    check_request,
    collect_videos,
    effective_model,
    inline_video,
    no_video_failure,
    operation_name,
    poll_max_bytes,
    predict_body,
    read_operation,
)
from worker.upstream.transport import JSON_MAX_BYTES, ClientPool, request_json

DEFAULT_MODEL = "veo-3.1-generate-001"
DEFAULT_GCS_BASE_URL = "https://storage.googleapis.com"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
_OPERATION_NAME = re.compile(
    r"projects/[^/?#\s]+/locations/[^/?#\s]+/publishers/google/models/[^/?#\s]+"
    r"/operations/[^/?#\s]+"
)
_GCS_URI = re.compile(r"gs://([^/]+)/(.+)")


class _TimeoutRequest(google.auth.transport.requests.Request):
    """google-auth's transport, with our timeout instead of its 120 s default."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self._timeout_s = timeout_s

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = self._timeout_s
        return super().__call__(*args, **kwargs)  # type: ignore[no-untyped-call]  # google-auth


class TokenSource:
    """An OAuth access token, loaded and refreshed off the event loop, once for all callers."""

    def __init__(self, *, credentials_file: str, token_url: str, timeout_s: float) -> None:
        self.credentials_file = credentials_file
        self.token_url = token_url
        self.project_id: str | None = None
        self._request = _TimeoutRequest(timeout_s)
        self._credentials: Any = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    async def token(self) -> str:
        if self._credentials is None or not self._credentials.valid:
            async with self._loop_lock():  # a hundred concurrent polls refresh once, not 100 times
                if self._credentials is None:
                    self._credentials = await asyncio.to_thread(self._load)
                if not self._credentials.valid:
                    await asyncio.to_thread(self._refresh)
        return str(self._credentials.token)

    def _loop_lock(self) -> asyncio.Lock:
        """asyncio.Lock binds to one loop; a new loop (a new test) gets a new lock."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _load(self) -> Any:
        try:
            if self.credentials_file:
                credentials = service_account.Credentials.from_service_account_file(
                    self.credentials_file, scopes=SCOPES
                )
                project_id = credentials.project_id
            else:
                credentials, project_id = google.auth.default(scopes=SCOPES)
        except (OSError, ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
            message = f"cannot load Vertex credentials: {type(exc).__name__}: {exc}"
            raise UpstreamConfigError(message[:MESSAGE_MAX_CHARS]) from exc
        if self.token_url and hasattr(credentials, "with_token_uri"):
            credentials = credentials.with_token_uri(self.token_url)
        self.project_id = project_id
        return credentials

    def _refresh(self) -> None:
        try:
            self._credentials.refresh(self._request)
        except google.auth.exceptions.TransportError as exc:
            raise UpstreamTransientError(f"token refresh failed: {type(exc).__name__}") from exc
        except google.auth.exceptions.RefreshError as exc:
            message = f"token refresh failed: {exc}"[:MESSAGE_MAX_CHARS]
            if getattr(exc, "retryable", False):  # the token endpoint itself had a bad moment
                raise UpstreamTransientError(message) from exc
            raise UpstreamConfigError(message) from exc  # revoked key, wrong token URI, ...


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
        host = (
            "aiplatform.googleapis.com"
            if location == "global"
            else f"{location}-aiplatform.googleapis.com"
        )
        self.base_url = (base_url or f"https://{host}").rstrip("/")
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

    async def _token(self) -> str:
        return await self._tokens.token()

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
        token = await self._token()
        await request_json(
            self._pool,
            "GET",
            f"{self.base_url}/v1/publishers/google/models/{quote(self.video.model, safe='')}",
            phase="model_check",
            headers=_bearer(token),
            secrets=(token,),
        )

    async def submit(self, request: SubmitRequest) -> str:
        check_request(request, self.video)
        token = await self._token()
        operation = await request_json(
            self._pool,
            "POST",
            f"{self.base_url}/v1/{self._model_resource(effective_model(request, self.video))}"
            ":predictLongRunning",
            phase="submit",
            headers=_bearer(token),
            json_body=self.body(request),
            secrets=(token,),
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
        extra["generateAudio"] = True if request.generate_audio is None else request.generate_audio
        return predict_body(request, self.video, **extra)

    async def poll(self, operation: str) -> PollResult:
        check_operation_name(operation, _OPERATION_NAME, "Vertex")
        resource = operation.rpartition("/operations/")[0]  # as the SDK derives it
        token = await self._token()
        data = await request_json(
            self._pool,
            "POST",
            f"{self.base_url}/v1/{quote(resource, safe='/')}:fetchPredictOperation",
            phase="poll",
            headers=_bearer(token),
            json_body={"operationName": operation},
            secrets=(token,),
            max_bytes=self._poll_max_bytes,
        )
        return parse_operation(data)

    async def download(self, video: VideoRef, dest: Path, *, max_bytes: int) -> int:
        if video.data is not None:
            return write_capped(video.data, dest, max_bytes=max_bytes)
        match = _GCS_URI.fullmatch(video.uri or "")
        if match is None:
            raise UpstreamPermanentError("not a gs:// video URI", code="upstream_bad_url")
        bucket, obj = match.groups()
        url = (
            f"{self.gcs_base_url}/storage/v1/b/{quote(bucket, safe='')}"
            f"/o/{quote(obj, safe='')}?alt=media"
        )
        token = await self._token()

        def headers_for(target: httpx.URL) -> dict[str, str]:
            """The token goes to the Vertex and GCS origins only, never to a redirect elsewhere."""
            return _bearer(token) if any(same_origin(target, o) for o in self._origins) else {}

        return await download_to(
            self._pool,
            url,
            dest,
            max_bytes=max_bytes,
            headers_for=headers_for,
            secrets=(token,),
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
