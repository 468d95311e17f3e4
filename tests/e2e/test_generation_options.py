"""Each generation option through the running stack: gateway, workers and the simulator over
HTTP. The option reaches what the simulator received (`/_sim/operations/{name}`: the submit's
body) and the status answer; several samples come back as several videos."""

import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from shared.db import read_session
from shared.models import Job
from shared.settings import get_settings
from tests.conftest import AccountInfo, Workers
from tests.support.api import create_video, simulator_headers, upload_image, wait_terminal

pytestmark = pytest.mark.e2e

OPTIONS = {"durationSeconds": 8, "resolution": "1080p", "negativePrompt": "text overlays"}
# Vertex AI only (the Gemini API's surface refuses them): a seed, silence and two samples.
VERTEX_OPTIONS = {"seed": 1234, "generateAudio": False, "sampleCount": 2}


@pytest.fixture
def user(account: Callable[..., AccountInfo], workers: Workers) -> AccountInfo:
    return account(credits=100)


def vertex_only() -> None:
    if get_settings().upstream_protocol != "vertex":
        pytest.skip("the upstream speaks the Gemini API, which takes no seed, silence or samples")


def unique(prompt: str) -> str:
    return f"{prompt} #{secrets.token_hex(4)}"


def received(simulator_url: str, uuid: str) -> dict[str, Any]:
    """The body the simulator received for this job's submit."""
    with read_session() as session:
        job = session.get(Job, uuid)
    assert job is not None
    assert job.upstream_operation is not None
    described = httpx.get(
        f"{simulator_url}/_sim/operations/{job.upstream_operation}", headers=simulator_headers()
    ).json()
    if "request" not in described:
        pytest.skip("this simulator does not keep the bodies it receives")
    body: dict[str, Any] = described["request"]["body"]
    return body


def test_options_and_both_frames_complete_and_are_echoed(
    client: httpx.Client, user: AccountInfo, simulator_url: str
) -> None:
    first, last = upload_image(client, user.headers), upload_image(client, user.headers)
    fields = {
        **OPTIONS,
        "generationType": "image_to_video",
        "imageKey": first["imageKey"],
        "lastFrameKey": last["imageKey"],
        "aspectRatio": "auto",
    }
    uuid = create_video(client, user.headers, unique("a kite rising"), **fields)
    result = wait_terminal(client, user.headers, uuid)
    assert result["status"] == "completed", result
    assert {name: result[name] for name in OPTIONS} == OPTIONS
    assert (result["model"], result["credits"], result["sampleCount"]) == ("veo-3.1", 2, 1)
    assert result["aspectRatio"] == "16:9"  # `auto`, from the landscape first frame
    assert result["videoUrls"] == [result["videoUrl"]]

    body = received(simulator_url, uuid)
    parameters, instance = body["parameters"], body["instances"][0]
    assert parameters["durationSeconds"] == 8
    assert parameters["resolution"] == "1080p"
    assert parameters["negativePrompt"] == "text overlays"
    assert parameters["aspectRatio"] == "16:9"
    assert "image" in instance
    assert "lastFrame" in instance


def test_vertex_options_reach_the_simulator_and_two_samples_give_two_videos(
    client: httpx.Client, user: AccountInfo, simulator_url: str
) -> None:
    vertex_only()
    fields = {**VERTEX_OPTIONS, "model": "veo-3.1-fast", "durationSeconds": 4}
    uuid = create_video(client, user.headers, unique("two takes of a harbour"), **fields)
    result = wait_terminal(client, user.headers, uuid)
    assert result["status"] == "completed", result
    assert {name: result[name] for name in VERTEX_OPTIONS} == VERTEX_OPTIONS
    assert (result["model"], result["durationSeconds"]) == ("veo-3.1-fast", 4)
    assert result["credits"] == 1  # Fast, silent: 0.0625 credits/s x 4 s x 2 samples, rounded up
    urls = result["videoUrls"]
    assert len(urls) == 2
    assert urls[0] == result["videoUrl"]
    for url in urls:
        video = httpx.get(url)
        assert (video.status_code, video.headers["content-type"]) == (200, "video/mp4")

    body = received(simulator_url, uuid)
    parameters = body["parameters"]
    assert (parameters["seed"], parameters["generateAudio"]) == (1234, False)
    assert (parameters["sampleCount"], parameters["durationSeconds"]) == (2, 4)


def test_reference_images_reach_the_simulator(
    client: httpx.Client, user: AccountInfo, simulator_url: str
) -> None:
    key = upload_image(client, user.headers)["imageKey"]
    references = [{"imageKey": key, "referenceType": "asset"}] * 2
    uuid = create_video(
        client, user.headers, unique("my mug on a beach"), referenceImages=references
    )
    result = wait_terminal(client, user.headers, uuid)
    assert result["status"] == "completed", result

    instance = received(simulator_url, uuid)["instances"][0]
    kinds = [r["referenceType"].lower() for r in instance["referenceImages"]]  # the SDK: ASSET
    assert kinds == ["asset", "asset"]
    assert "image" not in instance
