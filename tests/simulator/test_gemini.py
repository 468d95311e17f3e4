"""The Gemini API surface over real HTTP: happy paths, wire shapes, validation, auth, models."""

import httpx
import pytest

from tests.simulator.helpers import (
    GEMINI_MODEL,
    KEY,
    b64,
    error_of,
    gemini_body,
    gemini_poll,
    gemini_submit,
    png_bytes,
    probe_mp4,
    unique,
    wait_done,
)


def test_text_to_video_happy_path(client: httpx.Client) -> None:
    prompt = unique("A lion walks through the savannah [sim latency=0.4]")
    response = gemini_submit(client, gemini_body(prompt, durationSeconds=8, resolution="720p"))
    assert response.status_code == 200, response.text
    name = response.json()["name"]
    assert response.json() == {"name": name}
    model, _, op_id = name.partition("/operations/")
    assert model == f"models/{GEMINI_MODEL}"
    assert op_id.isalnum()

    running = gemini_poll(client, name)
    assert running.json() == {"name": name}  # no `done` key while running

    done = wait_done(lambda: gemini_poll(client, name))
    response_body = done["response"]
    assert response_body["@type"] == (
        "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
    )
    samples = response_body["generateVideoResponse"]["generatedSamples"]
    assert len(samples) == 1
    uri = samples[0]["video"]["uri"]
    assert uri == f"{client.base_url}/v1beta/files/{op_id}:download?alt=media"

    video = client.get(uri, headers=KEY, follow_redirects=True)
    assert video.status_code == 200
    assert [hop.status_code for hop in video.history] == [302]
    assert video.headers["content-type"] == "video/mp4"
    width, height, frames = probe_mp4(video.content)
    assert (width, height) == (320, 180)
    assert frames >= 12

    info = client.get(f"/_sim/operations/{op_id}").json()
    assert info["state"] == "succeeded"
    assert info["done_at"] == pytest.approx(info["created_at"] + 0.4)
    assert info["first_seen_done_at"] >= info["done_at"]
    assert info["downloads"] == 1


def test_image_to_video_portrait(client: httpx.Client) -> None:
    body = gemini_body(unique("Slow pan over the red card"), aspectRatio="9:16")
    body["instances"][0]["image"] = {
        "bytesBase64Encoded": b64(png_bytes()),
        "mimeType": "image/png",
    }
    body["parameters"]["personGeneration"] = "allow_adult"
    response = gemini_submit(client, body)
    assert response.status_code == 200, response.text
    done = wait_done(lambda: gemini_poll(client, response.json()["name"]))
    uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    video = client.get(f"{uri}&key=query-key", follow_redirects=True)  # the cookbook way
    width, height, frames = probe_mp4(video.content)
    assert (width, height) == (180, 320)
    assert frames > 0


def test_download_needs_redirect_following(client: httpx.Client) -> None:
    response = gemini_submit(client, gemini_body(unique("redirect check")))
    done = wait_done(lambda: gemini_poll(client, response.json()["name"]))
    uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    hop = client.get(uri, headers=KEY)
    assert hop.status_code == 302
    assert hop.headers["location"].startswith(f"{client.base_url}/_sim/media/")
    assert client.get(uri).status_code == 403  # the download needs the key too


def test_models_get_and_retired_models(client: httpx.Client) -> None:
    ok = client.get(f"/v1beta/models/{GEMINI_MODEL}", headers=KEY)
    assert ok.status_code == 200
    assert ok.json()["name"] == f"models/{GEMINI_MODEL}"
    assert ok.json()["supportedGenerationMethods"] == ["predictLongRunning"]

    retired = client.get("/v1beta/models/veo-3.0-generate-001", headers=KEY)
    assert retired.status_code == 404
    error = error_of(retired)
    assert error["status"] == "NOT_FOUND"
    assert "models/veo-3.0-generate-001 is no longer available" in error["message"]

    submit = gemini_submit(client, gemini_body("late"), model="veo-3.0-generate-001")
    assert submit.status_code == 404
    assert "is no longer available" in error_of(submit)["message"]

    vertex_only = gemini_submit(client, gemini_body("ga id"), model="veo-3.1-generate-001")
    assert vertex_only.status_code == 404
    assert "is not found for API version v1beta" in error_of(vertex_only)["message"]


def test_retired_models_can_change_at_run_time(client: httpx.Client) -> None:
    patched = client.post("/_sim/config", json={"retired_models": GEMINI_MODEL})
    assert patched.json()["retired_models"] == [GEMINI_MODEL]
    assert client.get(f"/v1beta/models/{GEMINI_MODEL}", headers=KEY).status_code == 404
    client.post("/_sim/reset")
    assert client.get(f"/v1beta/models/{GEMINI_MODEL}", headers=KEY).status_code == 200


def test_api_key_rules(client: httpx.Client) -> None:
    url = f"/v1beta/models/{GEMINI_MODEL}:predictLongRunning"
    missing = client.post(url, json=gemini_body("no key"))
    assert missing.status_code == 403
    assert error_of(missing)["status"] == "PERMISSION_DENIED"
    empty = client.post(url, json=gemini_body("empty key"), headers={"x-goog-api-key": ""})
    assert empty.status_code == 403
    invalid = client.post(url, json=gemini_body("bad key"), headers={"x-goog-api-key": "invalid"})
    assert invalid.status_code == 400
    assert error_of(invalid)["details"][0]["reason"] == "API_KEY_INVALID"
    by_query = client.post(url, json=gemini_body(unique("query key")), params={"key": "k"})
    assert by_query.status_code == 200


def _image(**overrides: object) -> dict[str, object]:
    image: dict[str, object] = {"bytesBase64Encoded": b64(png_bytes()), "mimeType": "image/png"}
    image.update(overrides)
    return image


@pytest.mark.parametrize(
    ("instance", "parameters", "message"),
    [
        ({"image": {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}}, {}, "`inlineData`"),
        ({}, {"personGeneration": "allow_adult"}, "allow_adult for personGeneration"),
        ({"image": _image()}, {"personGeneration": "allow_all"}, "allow_all for personGeneration"),
        ({}, {"aspectRatio": "1:1"}, "Aspect ratio"),
        ({}, {"durationSeconds": 5}, "out of range"),
        ({}, {"resolution": "1080p", "durationSeconds": 4}, "need durationSeconds 8"),
        ({"image": _image(bytesBase64Encoded="not base64!!")}, {}, "Base64 decoding failed"),
        ({"image": _image(mimeType="image/webp")}, {}, "Unsupported MIME type"),
        ({"image": {"gcsUri": "gs://b/i.png", "mimeType": "image/png"}}, {}, "`gcsUri`"),
        ({"image": _image(bytesBase64Encoded=b64(b"not an image"))}, {}, "Unable to process"),
        ({}, {"storageUri": "gs://bucket/out/"}, "`storageUri` isn't supported"),
        ({}, {"generateAudio": True}, "`generateAudio` isn't supported"),
        ({}, {"sampleCount": 2}, "sampleCount"),
        ({"prompt": ""}, {}, "prompt is required"),
    ],
)
def test_rejects_like_google(
    client: httpx.Client, instance: dict[str, object], parameters: dict[str, object], message: str
) -> None:
    body = gemini_body(unique("validation"), **parameters)
    body["instances"][0].update(instance)
    response = gemini_submit(client, body)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]
    assert client.get("/_sim/stats").json()["submissions"]["accepted"] == 0


def test_unknown_top_level_field(client: httpx.Client) -> None:
    body = {**gemini_body("x"), "config": {}}
    response = gemini_submit(client, body)
    assert response.status_code == 400
    assert 'Unknown name "config"' in error_of(response)["message"]


def test_unknown_operation_is_404(client: httpx.Client) -> None:
    response = gemini_poll(client, f"models/{GEMINI_MODEL}/operations/doesnotexist")
    assert response.status_code == 404
    assert error_of(response)["status"] == "NOT_FOUND"
    missing_file = client.get("/v1beta/files/nope:download", params={"alt": "media"}, headers=KEY)
    assert missing_file.status_code == 403  # the Files API: "... or it may not exist"
