"""The Gemini API surface (generativelanguage.googleapis.com/v1beta), paths exactly as Google's.

- POST /v1beta/models/{model}:predictLongRunning        -> {"name": "models/{m}/operations/{id}"}
- GET  /v1beta/models/{model}                           -> models.get (404 for retired models)
- GET  /v1beta/models/{model}/operations/{id}           -> running: {"name"} with NO "done" key
- GET  /v1beta/files/{file}:download?alt=media          -> 302 to /_sim/media/... (follow it)

Auth is `x-goog-api-key` (or `?key=`): missing -> 403 PERMISSION_DENIED, the literal key
"invalid" -> 400 API_KEY_INVALID (to exercise that path), anything else is accepted. On this
surface the RAI counters sit INSIDE `response.generateVideoResponse`.
"""

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from simulator import google_errors as gerr
from simulator.core import (
    MODEL_OK,
    MODEL_RETIRED,
    base_url,
    gone,
    operation_not_found,
    parse_directives,
    read_json,
    sim_of,
)
from simulator.google_errors import GoogleApiError, json_response
from simulator.operations import (
    BLOCKED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    Operation,
    new_gemini_id,
)
from simulator.responses import error_message, rai_reason
from simulator.validation import parse_submit, prompt_of

SURFACE = "gemini"
RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
INVALID_KEY = "invalid"


def _require_key(request: Request) -> None:
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key") or ""
    if not key.strip():
        raise gerr.api_key_missing()
    if key == INVALID_KEY:
        raise gerr.api_key_invalid()


def _check_model(request: Request, model: str) -> None:
    status = sim_of(request).model_status(SURFACE, model)
    if status == MODEL_RETIRED:
        raise gerr.not_found(f"models/{model} is no longer available.")
    if status != MODEL_OK:
        raise gerr.not_found(
            f"models/{model} is not found for API version v1beta, or is not supported for "
            "predictLongRunning. Call ListModels to see the list of available models and their "
            "supported methods."
        )


async def submit(request: Request) -> Response:
    sim = sim_of(request)
    sim.stats.call("gemini.submit")
    _require_key(request)
    model = request.path_params["model"]
    _check_model(request, model)
    body = await read_json(request)
    prompt = prompt_of(body)
    directives = parse_directives(prompt)
    fault = await sim.run_faults("submit", prompt, directives, SURFACE, model)
    if fault is not None:
        return fault
    spec = parse_submit(body, SURFACE)
    image = spec.image.data if spec.image else None
    op = await sim.accept(
        request,
        surface=SURFACE,
        parent=f"models/{model}",
        model=model,
        spec=spec,
        directives=directives,
        op_id=new_gemini_id(),
        image_data=image,
    )
    if op is None:
        return gone()
    return json_response({"name": op.name})


async def get_model(request: Request) -> Response:
    sim_of(request).stats.call("gemini.models_get")
    _require_key(request)
    model = request.path_params["model"]
    _check_model(request, model)
    return json_response(
        {
            "name": f"models/{model}",
            "version": model.split("-")[1] if model.count("-") >= 1 else "1",
            "displayName": f"Veo ({model}, simulated)",
            "description": "Veo video generation served by the veo-gateway simulator.",
            "inputTokenLimit": 1024,
            "supportedGenerationMethods": ["predictLongRunning"],
        }
    )


async def get_operation(request: Request) -> Response:
    sim = sim_of(request)
    sim.stats.call("gemini.poll")
    _require_key(request)
    op = sim.registry.get(request.path_params["op_id"])
    if op is None or op.surface != SURFACE or op.model != request.path_params["model"]:
        raise operation_not_found()
    op.polls += 1
    fault = await sim.run_faults("poll", op.prompt, op.directives, SURFACE, op.model)
    if fault is not None:
        return fault
    if op.directives.vanish:
        raise operation_not_found()
    now = time.time()
    state = op.state(now)
    if state == RUNNING:
        return json_response({"name": op.name})
    if op.first_seen_done_at is None:
        op.first_seen_done_at = now
    return json_response(_done_body(op, state, base_url(request)))


def _done_body(op: Operation, state: str, base: str) -> dict[str, Any]:
    if state == FAILED:
        code = op.directives.error_code or 13
        return {
            "name": op.name,
            "done": True,
            "error": {"code": code, "message": error_message(code)},
        }
    if state == BLOCKED:
        video_response: dict[str, Any] = {
            "raiMediaFilteredCount": 1,
            "raiMediaFilteredReasons": [rai_reason(op.directives.block)],
        }
    else:
        video_response = {
            "generatedSamples": [
                {"video": {"uri": f"{base}/v1beta/files/{op.id}:download?alt=media"}}
            ]
        }
    return {
        "name": op.name,
        "done": True,
        "response": {"@type": RESPONSE_TYPE, "generateVideoResponse": video_response},
    }


async def download(request: Request) -> Response:
    sim = sim_of(request)
    sim.stats.call("gemini.download")
    _require_key(request)
    file_id = request.path_params["file_id"]
    if request.query_params.get("alt") != "media":
        raise gerr.invalid_argument("Downloads need alt=media.")
    op = sim.registry.get(file_id)
    now = time.time()
    if op is None or op.surface != SURFACE or op.state(now) != SUCCEEDED:
        raise GoogleApiError(404, f"File files/{file_id} not found.")
    fault = await sim.run_faults("download", op.prompt, op.directives, SURFACE, op.model)
    if fault is not None:
        return fault
    op.downloads += 1
    if op.first_download_at is None:
        op.first_download_at = now
    return RedirectResponse(f"{base_url(request)}/_sim/media/{op.id}/0.mp4", status_code=302)


routes: list[Route] = [
    Route("/v1beta/models/{model}:predictLongRunning", submit, methods=["POST"]),
    Route("/v1beta/models/{model}/operations/{op_id}", get_operation, methods=["GET"]),
    Route("/v1beta/models/{model}", get_model, methods=["GET"]),
    Route("/v1beta/files/{file_id}:download", download, methods=["GET"]),
]
