"""The Vertex AI surface ({loc}-aiplatform.googleapis.com, v1 and v1beta1) and its OAuth token
endpoint.

- POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning
- POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:fetchPredictOperation
       body {"operationName": "<full name>"}
- POST /token   (oauth2.googleapis.com/token: the service-account JWT-bearer grant)

Every Vertex call needs `Authorization: Bearer <token the simulator issued>` (401
UNAUTHENTICATED otherwise) with the cloud-platform scope (403 otherwise). Results come back as
inline `bytesBase64Encoded`, or as `gcsUri` under `parameters.storageUri` when one was given.
On this surface the RAI counters sit directly in `response` (not nested).
"""

import base64
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator import google_errors as gerr
from simulator.core import (
    Simulator,
    answer_poll,
    base_url,
    operation_not_found,
    read_json,
    sim_of,
    submit_operation,
)
from simulator.google_errors import json_response
from simulator.oauth import CLOUD_PLATFORM_SCOPE, AccessToken, OAuthError
from simulator.operations import BLOCKED, Operation, new_vertex_id
from simulator.responses import rai_reason

SURFACE = "vertex"
RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
_PARENT = "projects/{project}/locations/{location}/publishers/google/models/{model}"


def require_bearer(
    request: Request, allowed_scopes: tuple[str, ...], *, gcs: bool = False
) -> AccessToken:
    """The caller's token grant; raises 401 (no/unknown/expired token) or 403 (scope)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise gerr.unauthenticated(missing=True, gcs=gcs)
    grant = sim_of(request).oauth.check_token(token.strip())
    if grant is None:
        raise gerr.unauthenticated(missing=False, gcs=gcs)
    if grant.scopes.isdisjoint(allowed_scopes):
        raise gerr.insufficient_scopes()
    return grant


def _parent(request: Request) -> tuple[str, str]:
    params = request.path_params
    return _PARENT.format(**params), params["model"]


def _check_model(sim: Simulator, parent: str, model: str) -> None:
    sim.check_model(
        SURFACE,
        model,
        retired=f"Publisher Model `{parent}` is no longer available.",
        unknown=f"Publisher Model `{parent}` was not found or your project does not have access "
        "to it. Please ensure you are using a valid model version. For more information, see: "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions",
    )


async def submit(request: Request) -> Response:
    sim = sim_of(request)
    sim.stats.call("vertex.submit")
    require_bearer(request, (CLOUD_PLATFORM_SCOPE,))
    parent, model = _parent(request)
    return await submit_operation(
        request,
        surface=SURFACE,
        parent=parent,
        model=model,
        new_id=new_vertex_id,
        check_model=lambda: _check_model(sim, parent, model),
    )


async def fetch_operation(request: Request) -> Response:
    sim = sim_of(request)
    sim.stats.call("vertex.poll")
    require_bearer(request, (CLOUD_PLATFORM_SCOPE,))
    parent, _ = _parent(request)
    body = await read_json(request)
    name = body.get("operationName") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        raise gerr.invalid_argument("`operationName` is required.")
    op = sim.registry.find(name)
    if op is None or op.surface != SURFACE or op.name != name or op.parent != parent:
        raise operation_not_found()
    return await answer_poll(request, op, _done_body)


async def _done_body(request: Request, op: Operation, state: str) -> dict[str, Any]:
    response: dict[str, Any] = {"@type": RESPONSE_TYPE}
    if state == BLOCKED:
        response["raiMediaFilteredCount"] = 1
        response["raiMediaFilteredReasons"] = [rai_reason(op.directives.block)]
    elif op.storage_uri:
        response["raiMediaFilteredCount"] = 0
        response["videos"] = [
            {"gcsUri": f"{op.storage_uri}{op.id}/sample_{index}.mp4", "mimeType": "video/mp4"}
            for index in range(op.samples)
        ]
    else:
        response["raiMediaFilteredCount"] = 0
        videos: list[dict[str, str]] = []
        response["videos"] = videos
        for index in range(op.samples):
            clip = await sim_of(request).video_bytes(op, index)
            videos.append(
                {"bytesBase64Encoded": base64.b64encode(clip).decode(), "mimeType": "video/mp4"}
            )
        op.record_download(time.time())
        op.record_download_done(time.time())
    return {"name": op.name, "done": True, "response": response}


async def token(request: Request) -> Response:
    sim = sim_of(request)
    sim.stats.call("oauth.token")
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    try:
        answer = sim.oauth.exchange(form, f"{base_url(request)}/token")
    except OAuthError as exc:
        sim.stats.call("oauth.token_refused")
        return json_response(exc.body(), exc.status)
    return json_response(
        answer, headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"}
    )


async def get_publisher_model(request: Request) -> Response:
    """Model Garden publishers.models.get: the unbilled read the adapter's check_model uses."""
    sim = sim_of(request)
    sim.stats.call("vertex.models_get")
    require_bearer(request, (CLOUD_PLATFORM_SCOPE,))
    model = request.path_params["model"]
    name = f"publishers/google/models/{model}"
    _check_model(sim, name, model)
    return json_response(
        {"name": name, "versionId": "001", "launchStage": "GA", "openSourceCategory": "PROPRIETARY"}
    )


_MODEL_PATH = "/projects/{project}/locations/{location}/publishers/google/models/{model}"
# The SDK speaks v1beta1 by default (HttpOptions(api_version="v1") for v1); both take the same
# bodies and answer the same way.
API_VERSIONS = ("v1", "v1beta1")

routes: list[Route] = [
    route
    for version in API_VERSIONS
    for route in (
        Route(
            f"/{version}/publishers/google/models/{{model}}", get_publisher_model, methods=["GET"]
        ),
        Route(f"/{version}{_MODEL_PATH}:predictLongRunning", submit, methods=["POST"]),
        Route(f"/{version}{_MODEL_PATH}:fetchPredictOperation", fetch_operation, methods=["POST"]),
    )
] + [Route("/token", token, methods=["POST"])]
