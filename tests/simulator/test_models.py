"""Which model ids the simulator serves, what each takes, and what it kept of refused submits."""

import httpx
import pytest

from simulator.server import build_parser, config_from_args
from tests.simulator.helpers import (
    KEY,
    b64,
    error_of,
    gemini_body,
    gemini_submit,
    png_bytes,
    unique,
)

PREVIEW_IDS = {
    "veo-3.1-generate-preview",
    "veo-3.1-fast-generate-preview",
    "veo-3.1-lite-generate-preview",
}


def test_the_preview_ids_are_retired_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEO_SIMULATOR_RETIRED_MODELS", raising=False)
    from shared.settings import get_settings

    get_settings.cache_clear()
    try:
        config = config_from_args(build_parser().parse_args([]))
    finally:
        get_settings.cache_clear()
    assert config.retired_models == PREVIEW_IDS


def test_models_list_leaves_retired_ids_out(client: httpx.Client) -> None:
    client.post("/_sim/config", json={"retired_models": sorted(PREVIEW_IDS)}).raise_for_status()
    listed = client.get("/v1beta/models", headers=KEY)
    assert listed.status_code == 200
    names = {model["name"] for model in listed.json()["models"]}
    assert "models/veo-3.0-generate-001" in names
    assert not names & {f"models/{model}" for model in PREVIEW_IDS}


def _reference(kind: str) -> dict[str, object]:
    image = {"bytesBase64Encoded": b64(png_bytes()), "mimeType": "image/png"}
    return {"image": image, "referenceType": kind}


@pytest.mark.parametrize(
    ("model", "instance", "parameters", "message"),
    [
        ("veo-3.1-lite-generate-preview", {}, {"resolution": "4k"}, "Resolution '4k'"),
        ("veo-3.0-generate-001", {}, {"resolution": "4k"}, "Resolution '4k'"),
        ("veo-3.1-fast-generate-preview", {"referenceImages": [_reference("style")]}, {}, "style"),
        ("veo-3.1-generate-preview", {"referenceImages": [_reference("scene")]}, {}, "scene"),
    ],
)
def test_each_model_refuses_what_it_does_not_take(
    client: httpx.Client,
    model: str,
    instance: dict[str, object],
    parameters: dict[str, object],
    message: str,
) -> None:
    client.post("/_sim/config", json={"retired_models": ""}).raise_for_status()
    prompt = unique("capabilities")
    body = gemini_body(prompt, **parameters)
    body["instances"][0].update(instance)
    response = gemini_submit(client, body, model=model)
    assert response.status_code == 400, response.text
    assert message in error_of(response)["message"]
    (refused,) = client.get("/_sim/refused", params={"prompt": prompt}).json()["refused"]
    assert refused["path"] == f"/v1beta/models/{model}:predictLongRunning"
    assert refused["error"] == response.json()
    assert refused["body"]["parameters"] == body["parameters"]


def test_reference_types_are_read_in_either_case(client: httpx.Client) -> None:
    client.post("/_sim/config", json={"retired_models": ""}).raise_for_status()
    body = gemini_body(unique("upper-case asset"))
    body["instances"][0]["referenceImages"] = [_reference("ASSET"), _reference("asset")]
    response = gemini_submit(client, body, model="veo-3.1-generate-preview")
    assert response.status_code == 200, response.text
    request = client.get(f"/_sim/operations/{response.json()['name']}").json()["request"]
    digest = request["body"]["instances"][0]["referenceImages"][0]["image"]["bytesBase64Encoded"]
    assert digest.startswith("sha256:")  # images are kept as digests, never whole
