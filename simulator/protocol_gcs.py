"""Just enough of the Cloud Storage JSON API for Veo on Vertex (point `gcs_base_url` here).

- GET  /storage/v1/b/{bucket}/o/{object}?alt=media       object bytes (metadata without alt=media)
- GET  /download/storage/v1/b/{bucket}/o/{object}?alt=media   (the client-library variant)
- POST /upload/storage/v1/b/{bucket}/o?uploadType=media&name=...   simple upload (image inputs)

The object name is URL-encoded in the path (`prefix%2Fid%2Fsample_0.mp4`); uvicorn decodes it,
so the route takes the rest of the path. Generated videos are not stored: an object named
`{storageUri prefix}{operation id}/sample_{i}.mp4` maps back to its operation and is rendered on
demand. Errors use GCS's own `{"error": {code, message, errors}}` shape.
"""

import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.core import sim_of
from simulator.google_errors import GcsApiError, json_response
from simulator.oauth import CLOUD_PLATFORM_SCOPE
from simulator.operations import SUCCEEDED, Operation
from simulator.protocol_vertex import SURFACE, require_bearer
from simulator.sizes import size_of

_READ_SCOPES = (
    CLOUD_PLATFORM_SCOPE,
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/devstorage.read_write",
    "https://www.googleapis.com/auth/devstorage.full_control",
)
_WRITE_SCOPES = (_READ_SCOPES[0], *_READ_SCOPES[2:])
_SAMPLE = re.compile(r"(?:^|/)(?P<op>[0-9a-f-]{36})/sample_(?P<i>\d+)\.mp4$")


async def get_object(request: Request) -> Response:
    sim = sim_of(request)
    sim.stats.call("gcs.get")
    require_bearer(request, _READ_SCOPES, gcs=True)
    bucket, name = request.path_params["bucket"], request.path_params["name"]
    generated = _find_output(request, bucket, name)
    if generated is not None:
        op, sample = generated
        fault = await sim.run_faults(
            "download", op.prompt, op.directives, SURFACE, op.model, gcs=True
        )
        if fault is not None:
            return fault
        if request.query_params.get("alt") != "media":
            clip = await sim.media.clip(op, sample)
            size = size_of(clip, sim.video_target(op))
            return json_response(_metadata(bucket, name, size))
        op.record_download(time.time())
        return await sim.video_response(op, sample)
    data = await sim.media.get_object(bucket, name)
    if data is None:
        raise GcsApiError(404, f"No such object: {bucket}/{name}")
    if request.query_params.get("alt") == "media":
        return Response(
            data, media_type="video/mp4" if name.endswith(".mp4") else "application/octet-stream"
        )
    return json_response(_metadata(bucket, name, len(data)))


def _find_output(request: Request, bucket: str, name: str) -> tuple[Operation, int] | None:
    """The finished operation and sample index a Veo output object name stands for."""
    match = _SAMPLE.search(name)
    if match is None:
        return None
    op = sim_of(request).registry.get(match.group("op"))
    sample = int(match.group("i"))
    if (
        op is None
        or op.surface != SURFACE
        or op.storage_uri != f"gs://{bucket}/{name[: match.start('op')]}"
        or op.state(time.time()) != SUCCEEDED
        or sample >= op.samples
    ):
        return None
    return op, sample


async def upload_object(request: Request) -> Response:
    sim = sim_of(request)
    sim.stats.call("gcs.upload")
    require_bearer(request, _WRITE_SCOPES, gcs=True)
    bucket = request.path_params["bucket"]
    name = request.query_params.get("name", "")
    if request.query_params.get("uploadType") != "media" or not name:
        raise GcsApiError(400, "Only uploadType=media with a name is simulated.")
    data = await request.body()
    await sim.media.put_object(bucket, name, data)
    return json_response(_metadata(bucket, name, len(data)))


def _metadata(bucket: str, name: str, size: int) -> dict[str, Any]:
    return {
        "kind": "storage#object",
        "id": f"{bucket}/{name}",
        "name": name,
        "bucket": bucket,
        "size": str(size),
        "contentType": "video/mp4" if name.endswith(".mp4") else "application/octet-stream",
    }


routes: list[Route] = [
    Route("/storage/v1/b/{bucket}/o/{name:path}", get_object, methods=["GET"]),
    Route("/download/storage/v1/b/{bucket}/o/{name:path}", get_object, methods=["GET"]),
    Route("/upload/storage/v1/b/{bucket}/o", upload_object, methods=["POST"]),
]
