"""The model's controls on POST /api/generate-video, over real HTTP: each option is priced,
stored and echoed; every combination the model would refuse is a 1000 naming the field, and
costs nothing."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from shared.db import read_session
from shared.models import Job
from shared.settings import get_settings
from tests.conftest import AccountInfo
from tests.support.api import upload_image
from tests.support.jobs import balance

TEXT = {"generationType": "text_to_video", "prompt": "a lighthouse in a storm"}
IMAGE = {"generationType": "image_to_video", "prompt": "the lighthouse light turns on"}


def jobs_of(account_id: str) -> int:
    with read_session() as session:
        count = session.execute(
            select(func.count()).select_from(Job).where(col(Job.account_id) == account_id)
        ).scalar_one()
    return int(count)


def post(client: httpx.Client, info: AccountInfo, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = client.post(
        "/api/generate-video", json=body, headers=info.headers
    ).json()
    return answer


@pytest.fixture
def vertex() -> None:
    """Seed, silent video and several samples are Vertex AI's (the Gemini API refuses them:
    tests/unit/test_model_capabilities.py)."""
    if get_settings().upstream_protocol != "vertex":
        pytest.skip("the upstream speaks the Gemini API, which takes none of these options")


@pytest.mark.usefixtures("vertex")
def test_options_are_priced_stored_and_echoed(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=100)
    options = {
        "model": "veo-3.1",
        "durationSeconds": 8,
        "resolution": "4k",
        "negativePrompt": "text overlays",
        "seed": 4_294_967_295,
        "generateAudio": False,
        "sampleCount": 2,
    }
    answer = post(client, info, {**TEXT, "aspectRatio": "auto", **options})
    assert answer["code"] == 0, answer
    data = answer["data"]
    assert {name: data[name] for name in options} == options
    assert data["credits"] == 4  # 4k without audio: 0.25 credits/s x 8 s x 2 samples
    assert balance(info.account_id) == 96
    status = client.get(f"/api/video-status/{data['uuid']}", headers=info.headers).json()["data"]
    assert {name: status[name] for name in options} == options
    assert status["credits"] == 4
    assert status["aspectRatio"] == "auto"  # resolved once submitted


def test_a_request_without_options_echoes_the_settings_defaults(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    data = post(client, info, TEXT)["data"]
    assert data["credits"] == 2
    assert (data["model"], data["durationSeconds"], data["resolution"]) == ("veo-3.1", 8, "720p")
    assert (data["seed"], data["generateAudio"], data["sampleCount"]) == (None, True, 1)
    assert balance(info.account_id) == 8


def test_a_fast_model_with_a_first_and_last_frame_is_accepted(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    first, last = upload_image(client, info.headers), upload_image(client, info.headers)
    body = {
        **IMAGE,
        "model": "veo-3.1-fast",
        "imageKey": first["imageKey"],
        "lastFrameKey": last["imageKey"],
    }
    answer = post(client, info, body)
    assert answer["code"] == 0, answer
    assert answer["data"]["credits"] == 1
    assert balance(info.account_id) == 9


def test_reference_images_are_accepted_on_a_text_job(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    key = upload_image(client, info.headers)["imageKey"]
    references = [{"imageKey": key, "referenceType": "asset"}, {"imageKey": key}]
    answer = post(client, info, {**TEXT, "referenceImages": references})
    assert answer["code"] == 0, answer
    with read_session() as session:
        job = session.get(Job, answer["data"]["uuid"])
    assert job is not None
    assert job.options is not None
    assert job.options["referenceImages"] == [
        {"imageKey": key, "referenceType": "asset"},
        {"imageKey": key, "referenceType": "asset"},
    ]


UPLOAD = "<upload>"  # replaced by a fresh upload's imageKey
REFUSED: list[Any] = [
    pytest.param({**TEXT, "durationSeconds": 5}, "durationSeconds", id="5-seconds"),
    pytest.param({**TEXT, "durationSeconds": "8"}, "durationSeconds", id="duration-as-text"),
    pytest.param({**TEXT, "resolution": "480p"}, "resolution", id="480p"),
    pytest.param(
        {**TEXT, "resolution": "1080p", "durationSeconds": 4}, "resolution", id="1080p-4s"
    ),
    pytest.param({**TEXT, "resolution": "4k", "durationSeconds": 6}, "resolution", id="4k-6s"),
    pytest.param({**TEXT, "model": "veo-2"}, "model", id="unknown-model"),
    pytest.param({**TEXT, "model": "veo-3.1-generate-001"}, "model", id="upstream-id"),
    pytest.param({**TEXT, "sampleCount": 0}, "sampleCount", id="0-samples"),
    pytest.param({**TEXT, "sampleCount": 5}, "sampleCount", id="5-samples"),
    pytest.param({**TEXT, "seed": -1}, "seed", id="negative-seed"),
    pytest.param({**TEXT, "seed": 2**32}, "seed", id="seed-past-uint32"),
    pytest.param({**TEXT, "generateAudio": "loud"}, "generateAudio", id="audio-not-bool"),
    pytest.param({**TEXT, "negativePrompt": "a\x00b"}, "negativePrompt", id="nul"),
    pytest.param({**TEXT, "lastFrameKey": UPLOAD}, "lastFrameKey", id="last-frame-no-first"),
    pytest.param(
        {**TEXT, "lastFrameUrl": "https://example.com/a.png"},
        "lastFrameUrl",
        id="last-url-no-first",
    ),
    pytest.param(
        {**IMAGE, "imageKey": UPLOAD, "lastFrameKey": UPLOAD, "lastFrameUrl": "https://e.x/a"},
        "lastFrameUrl",
        id="both-last-frames",
    ),
    pytest.param(
        {**IMAGE, "imageKey": UPLOAD, "lastFrameKey": "img_unknown"},
        "lastFrameKey",
        id="unknown-last-frame",
    ),
    pytest.param(
        {**IMAGE, "imageKey": UPLOAD, "lastFrameUrl": "http://169.254.169.254/latest"},
        "lastFrameUrl",
        id="last-frame-metadata-url",
    ),
    pytest.param(
        {**IMAGE, "imageKey": UPLOAD, "lastFrameKey": UPLOAD, "durationSeconds": 6},
        "durationSeconds",
        id="interpolation-6s",
    ),
    pytest.param(
        {**TEXT, "referenceImages": [{"imageKey": UPLOAD}] * 4}, "referenceImages", id="4-refs"
    ),
    pytest.param(
        {**TEXT, "referenceImages": [{"imageKey": UPLOAD, "referenceType": "style"}]},
        "referenceImages.0.referenceType",
        id="style-on-3.1",
    ),
    pytest.param(
        {**TEXT, "referenceImages": [{"imageKey": UPLOAD, "referenceType": "person"}]},
        "referenceImages.0.referenceType",
        id="unknown-reference-type",
    ),
    pytest.param(
        {**IMAGE, "imageKey": UPLOAD, "referenceImages": [{"imageKey": UPLOAD}]},
        "referenceImages",
        id="references-with-first-frame",
    ),
    pytest.param(
        {**TEXT, "model": "veo-3.1-fast", "referenceImages": [{"imageKey": UPLOAD}]},
        "referenceImages",
        id="references-on-fast",
    ),
    pytest.param(
        {**TEXT, "durationSeconds": 4, "referenceImages": [{"imageKey": UPLOAD}]},
        "durationSeconds",
        id="references-4s",
    ),
    pytest.param(
        {**TEXT, "referenceImages": [{"referenceType": "asset"}]},
        "referenceImages.0.imageKey",
        id="reference-without-image",
    ),
    pytest.param(
        {**TEXT, "referenceImages": [{"imageKey": UPLOAD, "imageUrl": "https://e.x/a.png"}]},
        "referenceImages.0.imageKey",
        id="reference-with-two-images",
    ),
    pytest.param(
        {**TEXT, "referenceImages": [{"imageKey": "img_unknown"}]},
        "referenceImages.0.imageKey",
        id="unknown-reference",
    ),
    pytest.param(
        {**TEXT, "referenceImages": [{"imageUrl": "http://169.254.169.254/x"}]},
        "referenceImages.0.imageUrl",
        id="reference-metadata-url",
    ),
]


def _with_upload(value: Any, key: str) -> Any:
    if value == UPLOAD:
        return key
    if isinstance(value, dict):
        return {name: _with_upload(item, key) for name, item in value.items()}
    if isinstance(value, list):
        return [_with_upload(item, key) for item in value]
    return value


@pytest.mark.parametrize(("body", "field"), REFUSED)
def test_what_the_model_would_refuse_is_a_1000_naming_the_field_and_costs_nothing(
    client: httpx.Client, account: Callable[..., AccountInfo], body: dict[str, Any], field: str
) -> None:
    info = account(credits=100)
    key = upload_image(client, info.headers)["imageKey"]
    response = client.post(
        "/api/generate-video", json=_with_upload(body, key), headers=info.headers
    )
    answer = response.json()
    assert (answer["code"], response.status_code) == (1000, 400), answer
    assert answer["data"]["field"] == field, answer
    assert f"'{field}'" in answer["msg"]
    assert balance(info.account_id) == 100
    assert jobs_of(info.account_id) == 0


@pytest.mark.usefixtures("vertex")
def test_insufficient_credits_says_what_this_request_costs(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=3)
    answer = post(client, info, {**TEXT, "sampleCount": 2})
    assert answer["code"] == 1001, answer
    assert answer["data"] == {"required": 4, "current": 3}
    assert balance(info.account_id) == 3
    assert post(client, info, TEXT)["code"] == 0  # the default request still fits
    assert balance(info.account_id) == 1


def test_an_idempotency_key_replays_only_the_same_options(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    info = account(credits=10)
    headers = {**info.headers, "Idempotency-Key": "options-1"}
    body = {**TEXT, "durationSeconds": 4}
    first = client.post("/api/generate-video", json=body, headers=headers).json()
    again = client.post("/api/generate-video", json=body, headers=headers).json()
    assert again["data"]["uuid"] == first["data"]["uuid"]
    assert again["data"]["credits"] == first["data"]["credits"] == 1
    other = client.post(
        "/api/generate-video", json={**body, "durationSeconds": 6}, headers=headers
    ).json()
    assert (other["code"], other["data"]["field"]) == (1000, "Idempotency-Key")
    assert balance(info.account_id) == 9
