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
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from simulator import directives as directive_parser
from simulator.capture import Captures, redact
from simulator.config import SimConfig
from simulator.directives import DirectiveError, Directives
from simulator.faults import FaultInjector, Plan, fault_response
from simulator.google_errors import GoogleApiError, invalid_argument, json_response, not_found
from simulator.latency import pick_latency
from simulator.media import MediaStore
from simulator.oauth import OAuthServer, oauth_root
from simulator.operations import FAILED, RUNNING, Operation, Registry
from simulator.push import Pusher
from simulator.responses import failed_operation
from simulator.sizes import padded, padded_chunks, size_of, target_bytes
from simulator.stats import Stats
from simulator.transport import DropConnection, client_gone
from simulator.validation import SubmitSpec, parse_submit, prompt_of

# GA `-001` ids of Veo 3.1 exist on Vertex only; the Gemini API answers 404 for them.
_VERTEX_ONLY_MODEL = re.compile(r"^veo-3\.1-(?:[a-z]+-)*generate-001$")

# How a protocol renders a finished operation that did not fail (blocked or succeeded).
DoneBody = Callable[[Request, Operation, str], Awaitable[dict[str, Any]]]


class Simulator:
    def __init__(self, config: SimConfig, control_token: str = "") -> None:
        self.config = config
        # Kept out of `config`, which /_sim/config and /_sim/stats show.
        self.control_token = control_token
        self.startup_config = config.copy()
        self.stats = Stats()
        self.registry = Registry()
        self.captures = Captures()
        self.faults = FaultInjector(config, self.stats)
        self.latency_rng = random.Random(config.seed)
        media_root = config.data_dir / "simulator" / "media" / str(os.getpid())
        self.media = MediaStore(media_root, config.render)
        self.oauth = OAuthServer(oauth_root(config.data_dir))
        self.pusher = Pusher(config, self.stats)
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
        self.pusher.cancel_all()
        self.registry.reset()
        self.captures.reset()
        self.stats.reset()
        for field, value in vars(self.startup_config).items():
            setattr(self.config, field, value)
        self.media.render_mode = self.config.render
        self.faults.reset()
        self.latency_rng = random.Random(self.config.seed)

    # --- videos --------------------------------------------------------------------------------
    def video_target(self, op: Operation) -> int:
        """The size a sample of `op` is served at: Veo's with `video_size=real`, else the clip's."""
        return target_bytes(op.resolution, op.duration_s) if self.config.video_size == "real" else 0

    async def video_bytes(self, op: Operation, sample: int) -> bytes:
        """One sample as a whole (Vertex's inline base64 needs it so)."""
        return padded(await self.media.clip(op, sample), self.video_target(op))

    async def video_response(self, op: Operation, sample: int) -> Response:
        """One sample streamed in chunks of at most 1 MiB; the operation records when the last
        byte went out (the benchmark's end of the download leg)."""
        clip = await self.media.clip(op, sample)
        target = self.video_target(op)

        async def body() -> AsyncIterator[bytes]:
            for chunk in padded_chunks(clip, target):
                yield chunk
            op.record_download_done(time.time())

        return StreamingResponse(
            body(),
            media_type="video/mp4",
            headers={"Content-Length": str(size_of(clip, target))},
        )

    def check_model(self, surface: str, model: str, *, retired: str, unknown: str) -> None:
        """404 NOT_FOUND in the surface's own words: a retired model, or one it does not serve."""
        if model in self.config.retired_models:
            raise not_found(retired)
        if not model.startswith("veo-") or (
            surface == "gemini" and _VERTEX_ONLY_MODEL.match(model)
        ):
            raise not_found(unknown)

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
                directives,
                model_name=self.config.latency_model,
                base_s=self.config.latency_s,
                jitter_s=self.config.jitter_s,
                rng=self.latency_rng,
                model=model,
                resolution=spec.resolution,
                duration_s=spec.duration_s,
            ),
            resolution=spec.resolution,
            pubsub_topic=spec.pubsub_topic,
        )
        self.registry.add(op)
        self.pusher.schedule(op)
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


async def submit_operation(
    request: Request,
    *,
    surface: str,
    parent: str,
    model: str,
    new_id: Callable[[], str],
    check_model: Callable[[], None],
) -> Response:
    """The submit steps both protocols share once the caller is checked.

    Body, the model, directives, the submit fault plan, validation, the input image, then the
    new operation's name, or a dropped connection if the client left meanwhile. The body is
    kept (images as digests) with the operation, or with Google's answer when it is refused.
    """
    sim = sim_of(request)
    body = await read_json(request)
    prompt = prompt_of(body)
    try:
        check_model()
        directives = parse_directives(prompt)
        fault = await sim.run_faults("submit", prompt, directives, surface, model)
        if fault is not None:
            return fault
        spec = parse_submit(body, surface, model)
        image_data = await _input_image(sim, spec)
    except GoogleApiError as exc:
        sim.captures.refuse(path=request.url.path, prompt=prompt, body=body, error=exc.body())
        raise
    op = await sim.accept(
        request,
        surface=surface,
        parent=parent,
        model=model,
        spec=spec,
        directives=directives,
        op_id=new_id(),
        image_data=image_data,
    )
    if op is None:
        return gone()
    op.request = {"path": request.url.path, "body": redact(body)}
    return json_response({"name": op.name})


async def _input_image(sim: Simulator, spec: SubmitSpec) -> bytes | None:
    """The image of an image-to-video submit: inline bytes, or a `gcsUri` (Vertex only)."""
    if spec.image is None:
        return None
    if spec.image.gcs_uri is None:
        return spec.image.data
    bucket, _, name = spec.image.gcs_uri.removeprefix("gs://").partition("/")
    data = await sim.media.get_object(bucket, name)
    if data is None:
        raise invalid_argument(
            f"Cannot read the input image {spec.image.gcs_uri}: object not found."
        )
    return data


async def answer_poll(request: Request, op: Operation, done_body: DoneBody) -> Response:
    """The poll steps both protocols share once the operation is found and is the caller's.

    A running operation is `{"name"}` with no `done` key; a failed one the shared error body;
    a finished one whatever `done_body` renders for its surface (blocked or succeeded).
    """
    op.polls += 1
    fault = await sim_of(request).run_faults("poll", op.prompt, op.directives, op.surface, op.model)
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
    if state == FAILED:
        return json_response(failed_operation(op))
    return json_response(await done_body(request, op, state))
