"""The simulator's shared state and the steps every protocol route has in common.

One `Simulator` per process, reachable from any request as `request.app.state.sim`. It owns the
config, the registry, the counters, fault injection, media and OAuth; the protocol modules only
translate between wire shapes and these calls.
"""

import asyncio
import json
import os
import random
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulator import directives as directive_parser
from simulator.config import SimConfig
from simulator.directives import DirectiveError, Directives
from simulator.faults import FaultInjector, Plan, fault_response
from simulator.google_errors import GoogleApiError, invalid_argument
from simulator.media import MediaStore
from simulator.oauth import OAuthServer, oauth_root
from simulator.operations import Operation, Registry, pick_latency
from simulator.stats import Stats
from simulator.transport import DropConnection, client_gone
from simulator.validation import SubmitSpec

# GA `-001` ids of Veo 3.1 exist on Vertex only; the Gemini API answers 404 for them.
_VERTEX_ONLY_MODEL = re.compile(r"^veo-3\.1-(?:[a-z]+-)*generate-001$")
MODEL_OK, MODEL_RETIRED, MODEL_UNKNOWN = "ok", "retired", "unknown"


class Simulator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.startup_config = config.copy()
        self.stats = Stats()
        self.registry = Registry()
        self.faults = FaultInjector(config, self.stats)
        self.latency_rng = random.Random(config.seed)
        media_root = config.data_dir / "simulator" / "media" / str(os.getpid())
        self.media = MediaStore(media_root, config.render)
        self.oauth = OAuthServer(oauth_root(config.data_dir))
        self.started_at = time.time()

    # --- configuration -------------------------------------------------------------------------
    def apply_config(self, changes: dict[str, Any]) -> None:
        self.config.update(changes)
        self.media.render_mode = self.config.render
        if "seed" in changes:
            self.faults.reseed()
            self.latency_rng = random.Random(self.config.seed)

    def reset(self) -> None:
        """Forget operations and counters, restore the start-up config (credentials are kept)."""
        self.registry.reset()
        self.stats.reset()
        for field, value in vars(self.startup_config).items():
            setattr(self.config, field, value)
        self.media.render_mode = self.config.render
        self.faults.reset()
        self.latency_rng = random.Random(self.config.seed)

    def model_status(self, surface: str, model: str) -> str:
        if model in self.config.retired_models:
            return MODEL_RETIRED
        if not model.startswith("veo-") or (
            surface == "gemini" and _VERTEX_ONLY_MODEL.match(model)
        ):
            return MODEL_UNKNOWN
        return MODEL_OK

    # --- submit ----------------------------------------------------------------------------------
    async def accept(
        self,
        request: Request,
        *,
        surface: str,
        parent: str,
        model: str,
        spec: SubmitSpec,
        directives: Directives,
        op_id: str,
        image_data: bytes | None,
    ) -> Operation | None:
        """Store the image and create the operation; None if the client already hung up."""
        image_key = None
        if image_data is not None:
            try:
                image_key = await self.media.save_input_image(image_data)
            except ValueError:
                raise invalid_argument(
                    "Unable to process input image. Please retry or report in "
                    "https://developers.generativeai.google/guide/troubleshooting"
                ) from None
        if await client_gone(request):
            self.stats.call(f"{surface}.submit_abandoned")
            return None  # never accept a job nobody will hear about (no duplicate on resubmit)
        op = Operation(
            id=op_id,
            surface=surface,
            parent=parent,
            model=model,
            prompt=spec.prompt,
            directives=directives,
            aspect_ratio=spec.aspect_ratio,
            duration_s=spec.duration_s,
            samples=spec.samples,
            image_key=image_key,
            storage_uri=spec.storage_uri,
            created_at=time.time(),
            latency_s=pick_latency(
                directives, self.config.latency_s, self.config.jitter_s, self.latency_rng
            ),
        )
        self.registry.add(op)
        self.stats.accepted += 1
        return op

    async def run_faults(
        self,
        phase: str,
        prompt: str,
        directives: Directives,
        surface: str,
        model: str,
        *,
        gcs: bool = False,
    ) -> Response | None:
        """Apply this call's fault plan: sleeps when slow; returns the fault answer, if any."""
        plan: Plan = self.faults.plan(phase, prompt, directives)
        if plan.delay_s:
            await asyncio.sleep(plan.delay_s)
        if plan.kind is None:
            return None
        return fault_response(plan, surface, model, gcs=gcs)


def sim_of(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


async def read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        raise invalid_argument("Invalid JSON payload received. Unexpected token.") from None


def parse_directives(prompt: str) -> Directives:
    try:
        return directive_parser.parse(prompt)
    except DirectiveError as exc:
        raise invalid_argument(str(exc)) from None


def base_url(request: Request) -> str:
    """Where the client reached us (Host header), so returned URIs work from its side."""
    return str(request.base_url).rstrip("/")


def gone() -> Response:
    """The answer for a submit whose client disconnected during a slow answer."""
    return DropConnection()


def operation_not_found() -> GoogleApiError:
    return GoogleApiError(404, "Requested entity was not found.")
