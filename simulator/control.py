"""`/_sim/*`: the simulator's own endpoints, for tests, benchmarks and the dev stack.

- GET  /_sim/health                      liveness (readiness probes poll it; open)
- GET  /_sim/media/{id}/{sample}.mp4     where Gemini downloads redirect to (open, like a
                                         signed URL)
- GET  /_sim/oauth2/v1/certs             the push tokens' certificate, `{kid: PEM}` (open,
                                         like Google's)

The control endpoints need the `X-Sim-Token` header carrying VEO_SIMULATOR_CONTROL_TOKEN; with
no token set they are closed. A request without it is a stranger: a webhook or image fetch that
reached this port must not wipe or read the operations of every account on the stack.

- GET  /_sim/stats[?prompts=0]           calls, faults, operations (in flight, done), submissions
- GET  /_sim/submissions[?prompt=...]    accepted submissions of one prompt (or counts of all)
- GET  /_sim/operations/{id or name}     one operation: times, and the submit's `request`
                                         (path and body, inline images as sha256 digests)
- GET  /_sim/refused[?prompt=...]        the last refused submits: path, body, Google's error
- POST /_sim/reset                       forget operations/counters, restore start-up config
- GET|POST /_sim/config                  read / patch latency_s, jitter_s, fault_rate, render, ...
- POST /_sim/service-account             a fresh service-account JSON whose token_uri is us
"""

import asyncio
import hmac
import os
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.core import base_url, operation_not_found, read_json, sim_of
from simulator.google_errors import GoogleApiError, invalid_argument, json_response
from simulator.oauth import DEFAULT_PROJECT_ID
from simulator.operations import SUCCEEDED

CONTROL_HEADER = "X-Sim-Token"
Endpoint = Callable[[Request], Awaitable[Response]]


def control_headers(token: str) -> dict[str, str]:
    """The headers a caller of the control endpoints sends."""
    return {CONTROL_HEADER: token}


def _guarded(endpoint: Endpoint) -> Endpoint:
    """The endpoint, answered only to a request carrying the control token."""

    async def guarded(request: Request) -> Response:
        expected = sim_of(request).control_token
        if not expected:
            raise GoogleApiError(
                403, "Control endpoints are closed: start the simulator with a control token."
            )
        given = request.headers.get(CONTROL_HEADER, "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise GoogleApiError(401, f"Control endpoints need the {CONTROL_HEADER} header.")
        return await endpoint(request)

    return guarded


async def health(request: Request) -> Response:
    sim = sim_of(request)
    return json_response(
        {"status": "ok", "pid": os.getpid(), "uptime_s": round(time.time() - sim.started_at, 3)}
    )


async def stats(request: Request) -> Response:
    sim = sim_of(request)
    now = time.time()
    counts = sim.registry.counts(now)
    submissions: dict[str, object] = {
        "accepted": sim.stats.accepted,
        "prompts": len(sim.registry.by_prompt),
    }
    if request.query_params.get("prompts", "1") != "0":
        submissions["by_prompt"] = {
            prompt: len(ids) for prompt, ids in sim.registry.by_prompt.items()
        }
    return json_response(
        {
            "time": now,
            "uptime_s": round(now - sim.started_at, 3),
            "operations": counts,
            "in_flight": counts["in_flight"],
            "submissions": submissions,
            **sim.stats.snapshot(),
            "config": sim.config.public(),
        }
    )


async def submissions(request: Request) -> Response:
    sim = sim_of(request)
    prompt = request.query_params.get("prompt")
    if prompt is None:
        return json_response({prompt: len(ids) for prompt, ids in sim.registry.by_prompt.items()})
    ids = sim.registry.by_prompt.get(prompt, [])
    names = [op.name for op in (sim.registry.get(op_id) for op_id in ids) if op is not None]
    return json_response({"prompt": prompt, "count": len(ids), "operations": names})


async def operation(request: Request) -> Response:
    sim = sim_of(request)
    op = sim.registry.find(request.path_params["ref"])
    if op is None:
        raise operation_not_found()
    return json_response(op.describe(time.time()))


async def refused(request: Request) -> Response:
    items = sim_of(request).captures.refused_for(request.query_params.get("prompt"))
    return json_response({"count": len(items), "refused": items})


async def reset(request: Request) -> Response:
    sim_of(request).reset()
    return json_response({"status": "reset"})


async def config(request: Request) -> Response:
    sim = sim_of(request)
    if request.method == "POST":
        changes = await read_json(request)
        if not isinstance(changes, dict):
            raise invalid_argument("Expected a JSON object of config fields.")
        try:
            sim.apply_config(changes)
        except (TypeError, ValueError) as exc:
            raise invalid_argument(str(exc)) from None
    return json_response(sim.config.public())


async def service_account(request: Request) -> Response:
    sim = sim_of(request)
    body = await read_json(request)
    project_id = (
        body.get("project_id", DEFAULT_PROJECT_ID) if isinstance(body, dict) else DEFAULT_PROJECT_ID
    )
    token_uri = f"{base_url(request)}/token"
    info = await asyncio.to_thread(sim.oauth.create_service_account, token_uri, str(project_id))
    return json_response(info)


async def media(request: Request) -> Response:
    """The redirect target of a Gemini download: the MP4 bytes, rendered on first use."""
    sim = sim_of(request)
    sim.stats.call("media.get")
    op = sim.registry.get(request.path_params["op_id"])
    sample = int(request.path_params["sample"])
    if op is None or op.state(time.time()) != SUCCEEDED or sample >= op.samples:
        raise GoogleApiError(404, "File not found.")
    response = await sim.video_response(op, sample)
    response.headers["Content-Disposition"] = "attachment"
    return response


async def push_certs(request: Request) -> Response:
    """The push tokens' signing certificate, as Google serves its OAuth2 v1 certs (open)."""
    return json_response(
        sim_of(request).pusher.signer.certs(),
        headers={"Cache-Control": "public, max-age=3600"},
    )


routes: list[Route] = [
    Route("/_sim/health", health, methods=["GET"]),
    Route("/_sim/oauth2/v1/certs", push_certs, methods=["GET"]),
    Route("/_sim/stats", _guarded(stats), methods=["GET"]),
    Route("/_sim/submissions", _guarded(submissions), methods=["GET"]),
    Route("/_sim/operations/{ref:path}", _guarded(operation), methods=["GET"]),
    Route("/_sim/refused", _guarded(refused), methods=["GET"]),
    Route("/_sim/reset", _guarded(reset), methods=["POST"]),
    Route("/_sim/config", _guarded(config), methods=["GET", "POST"]),
    Route("/_sim/service-account", _guarded(service_account), methods=["POST"]),
    Route("/_sim/media/{op_id}/{sample:int}.mp4", media, methods=["GET"]),
]
