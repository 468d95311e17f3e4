"""Both adapters driven through the simulator: a real HTTP server speaking both wire protocols.

One simulator process serves the session. Every test uses its own prompt text, because the
simulator counts `[sim ...]` faults per exact prompt.
"""

import asyncio
import io
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Literal

import pytest
from PIL import Image

from shared.errors import (
    UpstreamConfigError,
    UpstreamOutcomeUnknown,
    UpstreamPermanentError,
    UpstreamTransientError,
)
from shared.settings import Settings
from tests.upstream.conftest import RETIRED_MODEL, Sim, run
from worker.upstream import build_upstream
from worker.upstream.base import ImageInput, PollResult, SubmitRequest, Upstream, VideoSettings
from worker.upstream.gemini import GeminiUpstream
from worker.upstream.images import prepare_image, resolve_aspect_ratio
from worker.upstream.vertex import VertexUpstream

GEMINI_MODEL = "veo-3.1-generate-preview"
VERTEX_MODEL = "veo-3.1-generate-001"

MAX_BYTES = 50 * 1024 * 1024


def prompt(text: str) -> str:
    return f"{text} #{uuid.uuid4().hex[:10]}"


def gemini(sim: Sim, *, model: str = GEMINI_MODEL, key: str = "simulator") -> GeminiUpstream:
    return GeminiUpstream(base_url=sim.url, api_key=key, video=VideoSettings(model=model))


def vertex(sim: Sim, tmp_path: Path, *, model: str = VERTEX_MODEL, gcs: str = "") -> VertexUpstream:
    return VertexUpstream(
        project="simulator-project",
        location="us-central1",
        video=VideoSettings(model=model),
        base_url=sim.url,
        gcs_base_url=sim.url,
        credentials_file=str(sim.service_account(tmp_path / "sa.json")),
        output_gcs_uri=gcs,
        max_inline_bytes=MAX_BYTES,
    )


async def until_done(adapter: Upstream, operation: str, timeout_s: float = 15.0) -> PollResult:
    """Poll the way the task layer does, only faster: check, and check again a moment later."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await adapter.poll(operation)
        if result.done:
            return result
        assert time.monotonic() < deadline, f"{operation} not done after {timeout_s}s"
        await asyncio.sleep(0.05)


async def generate(adapter: Upstream, request: SubmitRequest, dest: Path) -> tuple[str, int]:
    """Submit, poll until done, download: the whole happy path. Returns (operation, size)."""
    operation = await adapter.submit(request)
    result = await until_done(adapter, operation)
    assert result.failure is None, result.failure and result.failure.message
    assert result.video is not None
    return operation, await adapter.download(result.video, dest, max_bytes=MAX_BYTES)


def assert_mp4(path: Path, size: int) -> None:
    data = path.read_bytes()
    assert len(data) == size > 1000
    assert data[4:8] == b"ftyp"


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


# --- Gemini surface ----------------------------------------------------------------------------


def test_gemini_happy_path_follows_the_download_redirect(sim: Sim, tmp_path: Path) -> None:
    adapter = gemini(sim)
    media_before = sim.calls("media.get")

    async def scenario(a: GeminiUpstream) -> tuple[str, int]:
        await a.check_model()
        return await generate(
            a, SubmitRequest(prompt("a lighthouse at dusk"), "16:9"), tmp_path / "v.mp4"
        )

    operation, size = run(adapter, scenario)

    assert operation.startswith(f"models/{GEMINI_MODEL}/operations/")
    assert_mp4(tmp_path / "v.mp4", size)
    assert sim.calls("media.get") == media_before + 1  # the 302 target was fetched
    assert not (tmp_path / "v.mp4.part").exists()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_gemini_image_to_video(sim: Sim, tmp_path: Path, fmt: str) -> None:
    portrait = Image.new("RGB", (90, 160), (40, 90, 200))
    image, size = prepare_image(encoded(portrait, fmt), max_bytes=MAX_BYTES)
    assert image.mime_type == "image/png"  # WebP is converted; the simulator refuses image/webp
    request = SubmitRequest(prompt("the sky clears"), resolve_aspect_ratio("auto", size), image)

    operation, video_size = run(gemini(sim), lambda a: generate(a, request, tmp_path / "v.mp4"))

    assert_mp4(tmp_path / "v.mp4", video_size)
    described = sim.operation(operation)
    assert described["image_to_video"] is True
    assert described["aspect_ratio"] == "9:16"


def test_gemini_unconverted_webp_is_rejected_as_400(sim: Sim) -> None:
    webp = ImageInput(encoded(Image.new("RGB", (32, 32)), "WEBP"), "image/webp")
    with pytest.raises(UpstreamPermanentError) as caught:
        run(gemini(sim), lambda a: a.submit(SubmitRequest(prompt("x"), "16:9", webp)))
    assert caught.value.code == "upstream_rejected"
    assert "image/webp" in caught.value.message


def test_gemini_429_is_transient_with_retry_after_then_succeeds(sim: Sim) -> None:
    request = SubmitRequest(prompt("busy day [sim submit-fault=429x2]"), "16:9")

    async def scenario(a: GeminiUpstream) -> str:
        for _ in range(2):
            with pytest.raises(UpstreamTransientError) as caught:
                await a.submit(request)
            assert caught.value.status == 429
            assert caught.value.retry_after_s == 2.0
        return await a.submit(request)

    assert run(gemini(sim), scenario).startswith("models/")


def test_gemini_daily_quota_is_permanent(sim: Sim) -> None:
    with pytest.raises(UpstreamPermanentError) as caught:
        run(
            gemini(sim),
            lambda a: a.submit(SubmitRequest(prompt("[sim submit-fault=quota-day]"), "16:9")),
        )
    assert caught.value.code == "upstream_quota_exhausted"
    assert not isinstance(caught.value, UpstreamTransientError)


def test_gemini_safety_block_is_content_blocked(sim: Sim) -> None:
    async def scenario(a: GeminiUpstream) -> PollResult:
        return await until_done(
            a, await a.submit(SubmitRequest(prompt("[sim block=safety]"), "16:9"))
        )

    result = run(gemini(sim), scenario)
    assert result.video is None
    assert result.failure is not None
    assert result.failure.code == "content_blocked"
    assert result.failure.refund is True
    assert "safety filters" in result.failure.message


def test_gemini_operation_error_is_a_failure_not_a_raise(sim: Sim) -> None:
    async def scenario(a: GeminiUpstream) -> PollResult:
        return await until_done(a, await a.submit(SubmitRequest(prompt("[sim error=13]"), "16:9")))

    result = run(gemini(sim), scenario)
    assert result.failure is not None
    assert result.failure.code == "upstream_failed"
    assert "simulated INTERNAL" in result.failure.message


def test_gemini_poll_fault_is_transient_then_recovers(sim: Sim, tmp_path: Path) -> None:
    request = SubmitRequest(prompt("[sim poll-fault=500x1]"), "16:9")

    async def scenario(a: GeminiUpstream) -> PollResult:
        operation = await a.submit(request)
        with pytest.raises(UpstreamTransientError):
            await a.poll(operation)
        return await until_done(a, operation)

    assert run(gemini(sim), scenario).video is not None


def test_gemini_dropped_submit_has_an_unknown_outcome(sim: Sim) -> None:
    """Dropped after the request was sent: whether the upstream took it is unknown."""
    with pytest.raises(UpstreamOutcomeUnknown):
        run(
            gemini(sim),
            lambda a: a.submit(SubmitRequest(prompt("[sim submit-fault=drop]"), "16:9")),
        )


def test_gemini_vanished_operation_is_lost(sim: Sim) -> None:
    async def scenario(a: GeminiUpstream) -> PollResult:
        return await a.poll(await a.submit(SubmitRequest(prompt("[sim vanish]"), "16:9")))

    with pytest.raises(UpstreamPermanentError) as caught:
        run(gemini(sim), scenario)
    assert caught.value.code == "upstream_operation_lost"


def test_gemini_retired_model_is_a_config_error(sim: Sim) -> None:
    for call in (lambda a: a.check_model(), lambda a: a.submit(SubmitRequest(prompt("x"), "16:9"))):
        with pytest.raises(UpstreamConfigError, match="no longer available"):
            run(gemini(sim, model=RETIRED_MODEL), call)


def test_gemini_invalid_key_is_a_config_error(sim: Sim) -> None:
    with pytest.raises(UpstreamConfigError, match="API key not valid") as caught:
        run(gemini(sim, key="invalid"), lambda a: a.submit(SubmitRequest(prompt("x"), "16:9")))
    assert "invalid" not in caught.value.message.replace("INVALID_ARGUMENT", "")


# --- Vertex surface ----------------------------------------------------------------------------


def test_vertex_inline_video_with_a_service_account_token(sim: Sim, tmp_path: Path) -> None:
    tokens_before = sim.calls("oauth.token")
    image, size = prepare_image(
        encoded(Image.new("RGB", (160, 90), "orange"), "PNG"), max_bytes=MAX_BYTES
    )
    request = SubmitRequest(prompt("a fox runs"), resolve_aspect_ratio("auto", size), image)

    operation, video_size = run(
        vertex(sim, tmp_path), lambda a: generate(a, request, tmp_path / "v.mp4")
    )

    assert operation.startswith(
        f"projects/simulator-project/locations/us-central1/publishers/google/models/{VERTEX_MODEL}/operations/"
    )
    assert_mp4(tmp_path / "v.mp4", video_size)
    assert sim.operation(operation)["image_to_video"] is True
    assert sim.calls("oauth.token") == tokens_before + 1  # one token for submit and every poll


def test_vertex_gcs_output_is_downloaded_with_the_bearer_token(sim: Sim, tmp_path: Path) -> None:
    gets_before = sim.calls("gcs.get")
    adapter = vertex(sim, tmp_path, gcs="gs://veo-out/jobs/")
    request = SubmitRequest(prompt("rain on a window"), "9:16")

    operation, size = run(adapter, lambda a: generate(a, request, tmp_path / "v.mp4"))

    assert sim.operation(operation)["storage_uri"] == "gs://veo-out/jobs/"
    assert_mp4(tmp_path / "v.mp4", size)
    assert sim.calls("gcs.get") == gets_before + 1


def test_vertex_safety_block_at_response_level_is_content_blocked(sim: Sim, tmp_path: Path) -> None:
    async def scenario(a: VertexUpstream) -> PollResult:
        return await until_done(
            a, await a.submit(SubmitRequest(prompt("[sim block=audio]"), "16:9"))
        )

    result = run(vertex(sim, tmp_path), scenario)
    assert result.failure is not None
    assert result.failure.code == "content_blocked"
    assert "audio" in result.failure.message


def test_vertex_daily_quota_and_retired_model(sim: Sim, tmp_path: Path) -> None:
    with pytest.raises(UpstreamPermanentError) as caught:
        run(
            vertex(sim, tmp_path),
            lambda a: a.submit(SubmitRequest(prompt("[sim submit-fault=quota-day]"), "16:9")),
        )
    assert caught.value.code == "upstream_quota_exhausted"
    with pytest.raises(UpstreamConfigError, match="no longer available"):
        run(
            vertex(sim, tmp_path, model=RETIRED_MODEL),
            lambda a: a.submit(SubmitRequest(prompt("x"), "16:9")),
        )


def test_vertex_model_check_passes_and_refuses_a_retired_model(sim: Sim, tmp_path: Path) -> None:
    run(vertex(sim, tmp_path), lambda a: a.check_model())
    with pytest.raises(UpstreamConfigError, match="no longer available"):
        run(vertex(sim, tmp_path, model=RETIRED_MODEL), lambda a: a.check_model())


def test_vertex_vanished_operation_is_lost(sim: Sim, tmp_path: Path) -> None:
    async def scenario(a: VertexUpstream) -> PollResult:
        return await a.poll(await a.submit(SubmitRequest(prompt("[sim vanish]"), "16:9")))

    with pytest.raises(UpstreamPermanentError) as caught:
        run(vertex(sim, tmp_path), scenario)
    assert caught.value.code == "upstream_operation_lost"


# --- get_upstream wiring -----------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["gemini", "vertex"])
def test_simulator_backend_wiring(
    sim: Sim, tmp_path: Path, protocol: Literal["gemini", "vertex"]
) -> None:
    data_dir = tmp_path / "data"
    if protocol == "vertex":  # the documented way: the simulator CLI writes the file it trusts
        subprocess.run(
            [
                sys.executable, "-m", "simulator", "--host", "127.0.0.1",
                "--port", str(sim.port), "--data-dir", str(sim.data_dir),
                "--write-service-account", str(data_dir / "simulator" / "service-account.json"),
            ],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    settings = Settings(
        upstream_backend="simulator",
        simulator_protocol=protocol,
        simulator_url=sim.url,
        data_dir=data_dir,
        vertex_credentials_file="",
        model="",
    )
    adapter = build_upstream(settings)
    assert adapter.name == "simulator"
    request = SubmitRequest(prompt(f"wired via {protocol}"), "16:9")

    _, size = run(adapter, lambda a: generate(a, request, tmp_path / "v.mp4"))

    assert_mp4(tmp_path / "v.mp4", size)
