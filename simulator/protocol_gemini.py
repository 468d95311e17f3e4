"""The Gemini API surface (generativelanguage.googleapis.com/v1beta), paths exactly as Google's.

- POST /v1beta/models/{model}:predictLongRunning        -> {"name": "models/{m}/operations/{id}"}
- GET  /v1beta/models/{model}                           -> models.get (404 for retired models)
- GET  /v1beta/models                                   -> models.list (the Veo ids served)
- GET  /v1beta/models/{model}/operations/{id}           -> running: {"name"} with NO "done" key
- GET  /v1beta/files/{file}:download?alt=media          -> 302 to /_sim/media/... (follow it);
                                                           403 "... or it may not exist" when gone

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
    answer_poll,
    base_url,
    operation_not_found,
    sim_of,
    submit_operation,
)
from simulator.google_errors import GoogleApiError, json_response
from simulator.models import GEMINI_VEO_IDS
from simulator.operations import BLOCKED, SUCCEEDED, Operation, new_gemini_id
from simulator.responses import rai_reason

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
    sim_of(request).check_model(
        SURFACE,
        model,
        retired=f"models/{model} is no longer available.",
        unknown=f"models/{model} is not found for API version v1beta, or is not supported for "
        "predictLongRunning. Call ListModels to see the list of available models and their "
        "supported methods.",
    )


async def submit(request: Request) -> Response:
    sim_of(request).stats.call("gemini.submit")
    _require_key(request)
    model = request.path_params["model"]
    return await submit_operation(
        request,
        surface=SURFACE,
        parent=f"models/{model}",
        model=model,
        new_id=new_gemini_id,
        check_model=lambda: _check_model(request, model),
    )


async def get_model(request: Request) -> Response:
    sim_of(request).stats.call("gemini.models_get")
    _require_key(request)
    model = request.path_params["model"]
    _check_model(request, model)
    return json_response(_model_info(model))


def _model_info(model: str) -> dict[str, Any]:
    return {
        "name": f"models/{model}",
        "version": model.split("-")[1] if model.count("-") >= 1 else "1",
        "displayName": f"Veo ({model}, simulated)",
        "description": "Veo video generation served by the veo-gateway simulator.",
        "inputTokenLimit": 1024,
        "supportedGenerationMethods": ["predictLongRunning"],
    }


async def list_models(request: Request) -> Response:
    """models.list: the Veo ids this surface serves today (what a key would see)."""
    sim = sim_of(request)
    sim.stats.call("gemini.models_list")
    _require_key(request)
    retired = sim.config.retired_models
    return json_response({"models": [_model_info(m) for m in GEMINI_VEO_IDS if m not in retired]})


async def get_operation(request: Request) -> Response:
    sim = sim_of(request)
    sim.stats.call("gemini.poll")
    _require_key(request)
    op = sim.registry.get(request.path_params["op_id"])
    if op is None or op.surface != SURFACE or op.model != request.path_params["model"]:
        raise operation_not_found()
    return await answer_poll(request, op, _done_body)


async def _done_body(request: Request, op: Operation, state: str) -> dict[str, Any]:
    if state == BLOCKED:
        video_response: dict[str, Any] = {
            "raiMediaFilteredCount": 1,
            "raiMediaFilteredReasons": [rai_reason(op.directives.block)],
        }
    else:
        uri = f"{base_url(request)}/v1beta/files/{op.id}:download?alt=media"
        video_response = {"generatedSamples": [{"video": {"uri": uri}}]}
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
        # Google's Files API answers an expired or unknown file with 403, not 404.
        raise GoogleApiError(
            403,
            f"You do not have permission to access the File {file_id} or it may not exist.",
        )
    fault = await sim.run_faults("download", op.prompt, op.directives, SURFACE, op.model)
    if fault is not None:
        return fault
    op.record_download(now)
    return RedirectResponse(f"{base_url(request)}/_sim/media/{op.id}/0.mp4", status_code=302)


routes: list[Route] = [
    Route("/v1beta/models/{model}:predictLongRunning", submit, methods=["POST"]),
    Route("/v1beta/models/{model}/operations/{op_id}", get_operation, methods=["GET"]),
    Route("/v1beta/models", list_models, methods=["GET"]),
    Route("/v1beta/models/{model}", get_model, methods=["GET"]),
    Route("/v1beta/files/{file_id}:download", download, methods=["GET"]),
]
