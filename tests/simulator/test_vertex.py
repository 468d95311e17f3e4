"""The Vertex AI surface, OAuth via google-auth's real service-account flow, and the GCS reads."""

import base64
import json
import subprocess
from pathlib import Path
from urllib.parse import quote

import google.auth.transport.requests
import httpx
import pytest
from google.oauth2 import service_account

from tests.simulator.conftest import (
    REPO_ROOT,
    SimProcess,
    simulator_command,
    start_simulator,
    stop_simulator,
)
from tests.simulator.helpers import (
    VERTEX_MODEL,
    b64,
    error_of,
    png_bytes,
    probe_mp4,
    unique,
    wait_done,
)

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
PARENT = f"projects/demo/locations/us-central1/publishers/google/models/{VERTEX_MODEL}"


def write_service_account(sim: SimProcess, path: Path) -> None:
    """The documented CLI: `veo-simulator --write-service-account PATH` (same data dir and port)."""
    result = subprocess.run(
        [*simulator_command(sim.port, sim.data_dir), "--write-service-account", str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "written to" in result.stdout


def google_auth_token(path: Path) -> str:
    credentials = service_account.Credentials.from_service_account_file(str(path), scopes=SCOPES)
    credentials.refresh(google.auth.transport.requests.Request())
    assert credentials.token
    return str(credentials.token)


@pytest.fixture(scope="module")
def sa_file(sim: SimProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sa") / "service-account.json"
    write_service_account(sim, path)
    return path


@pytest.fixture(scope="module")
def token(sa_file: Path) -> str:
    return google_auth_token(sa_file)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def vertex_submit(client: httpx.Client, token: str, body: dict[str, object]) -> httpx.Response:
    return client.post(f"/v1/{PARENT}:predictLongRunning", json=body, headers=bearer(token))


def vertex_poll(client: httpx.Client, token: str, name: str) -> httpx.Response:
    resource = name.rpartition("/operations/")[0]  # what the SDK does
    return client.post(
        f"/v1/{resource}:fetchPredictOperation", json={"operationName": name}, headers=bearer(token)
    )


def body(prompt: str, **parameters: object) -> dict[str, object]:
    return {
        "instances": [{"prompt": prompt}],
        "parameters": {
            "aspectRatio": "16:9",
            "durationSeconds": 8,
            "generateAudio": True,
            **parameters,
        },
    }


def test_service_account_file_shape(sa_file: Path, sim: SimProcess) -> None:
    info = json.loads(sa_file.read_text())
    assert info["type"] == "service_account"
    assert info["token_uri"] == f"{sim.url}/token"
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert info["client_email"].endswith(".iam.gserviceaccount.com")
    assert info["project_id"]
    assert info["private_key_id"]


def test_inline_bytes_happy_path(client: httpx.Client, token: str) -> None:
    response = vertex_submit(client, token, body(unique("Vertex inline [sim latency=0.3]")))
    assert response.status_code == 200, response.text
    name = response.json()["name"]
    assert name.startswith(f"{PARENT}/operations/")
    assert vertex_poll(client, token, name).json() == {"name": name}

    done = wait_done(lambda: vertex_poll(client, token, name))
    result = done["response"]
    assert (
        result["@type"] == "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
    )
    assert result["raiMediaFilteredCount"] == 0
    (video,) = result["videos"]
    assert video["mimeType"] == "video/mp4"
    width, height, frames = probe_mp4(base64.b64decode(video["bytesBase64Encoded"]))
    assert (width, height) == (320, 180)
    assert frames > 0


def test_gcs_uri_variant(client: httpx.Client, token: str) -> None:
    response = vertex_submit(
        client,
        token,
        body(
            unique("Vertex to GCS"),
            aspectRatio="9:16",
            storageUri="gs://veo-out/jobs/",
            sampleCount=2,
        ),
    )
    name = response.json()["name"]
    done = wait_done(lambda: vertex_poll(client, token, name))
    videos = done["response"]["videos"]
    op_id = name.rpartition("/")[2]
    assert [v["gcsUri"] for v in videos] == [
        f"gs://veo-out/jobs/{op_id}/sample_0.mp4",
        f"gs://veo-out/jobs/{op_id}/sample_1.mp4",
    ]
    assert all("bytesBase64Encoded" not in v for v in videos)
    bucket, _, obj = videos[1]["gcsUri"].removeprefix("gs://").partition("/")
    url = f"/storage/v1/b/{bucket}/o/{quote(obj, safe='')}"
    media = client.get(url, params={"alt": "media"}, headers=bearer(token))
    assert media.status_code == 200
    assert probe_mp4(media.content)[:2] == (180, 320)
    metadata = client.get(url, headers=bearer(token)).json()
    assert metadata["name"] == obj
    assert int(metadata["size"]) == len(media.content)

    anonymous = client.get(url, params={"alt": "media"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["errors"][0]["reason"] == "required"  # GCS error shape
    missing = client.get(
        f"/storage/v1/b/{bucket}/o/nothing", params={"alt": "media"}, headers=bearer(token)
    )
    assert missing.status_code == 404


def test_image_to_video_via_uploaded_gcs_object(client: httpx.Client, token: str) -> None:
    upload = client.post(
        "/upload/storage/v1/b/inputs/o",
        params={"uploadType": "media", "name": "img/first.png"},
        content=png_bytes((40, 80)),
        headers=bearer(token),
    )
    assert upload.status_code == 200
    request = body(unique("from gcs image"), aspectRatio="9:16")
    request["instances"] = [
        {
            "prompt": "from gcs",
            "image": {"gcsUri": "gs://inputs/img/first.png", "mimeType": "image/png"},
        }
    ]
    response = vertex_submit(client, token, request)
    assert response.status_code == 200, response.text
    done = wait_done(lambda: vertex_poll(client, token, response.json()["name"]))
    assert probe_mp4(base64.b64decode(done["response"]["videos"][0]["bytesBase64Encoded"]))[:2] == (
        180,
        320,
    )

    request["instances"] = [
        {"prompt": "x", "image": {"gcsUri": "gs://inputs/missing.png", "mimeType": "image/png"}}
    ]
    unknown = vertex_submit(client, token, request)
    assert unknown.status_code == 400
    assert "object not found" in error_of(unknown)["message"]


def test_inline_image_bytes(client: httpx.Client, token: str) -> None:
    request = body(unique("inline image"))
    request["instances"] = [
        {
            "prompt": "pan",
            "image": {"bytesBase64Encoded": b64(png_bytes()), "mimeType": "image/png"},
        }
    ]
    request["parameters"] = {"aspectRatio": "16:9", "personGeneration": "allow_adult"}
    response = vertex_submit(client, token, request)
    assert response.status_code == 200, response.text


def test_auth_failures(client: httpx.Client, token: str) -> None:
    url = f"/v1/{PARENT}:predictLongRunning"
    missing = client.post(url, json=body("no token"))
    assert missing.status_code == 401
    assert error_of(missing)["status"] == "UNAUTHENTICATED"
    forged = client.post(url, json=body("forged"), headers=bearer("ya29.sim.e30.forged"))
    assert forged.status_code == 401
    poll = client.post(
        f"/v1/{PARENT}:fetchPredictOperation", json={"operationName": f"{PARENT}/operations/x"}
    )
    assert poll.status_code == 401


def test_token_endpoint_refuses_bad_assertions(client: httpx.Client) -> None:
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    bad = client.post("/token", data={"grant_type": grant, "assertion": "a.b.c"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_grant"
    wrong_grant = client.post("/token", data={"grant_type": "password"})
    assert wrong_grant.json()["error"] == "unsupported_grant_type"


def test_unknown_model_and_operation(client: httpx.Client, token: str) -> None:
    for model, message in [
        ("imagen-9", "Publisher Model"),  # unknown
        ("veo-3.0-generate-001", "is no longer available"),  # retired
    ]:
        answer = client.post(
            f"/v1/projects/demo/locations/us-central1/publishers/google/models/{model}:predictLongRunning",
            json=body("x"),
            headers=bearer(token),
        )
        assert answer.status_code == 404
        assert message in error_of(answer)["message"]
    missing = vertex_poll(
        client, token, f"{PARENT}/operations/00000000-0000-0000-0000-000000000000"
    )
    assert missing.status_code == 404


def test_service_account_endpoint(client: httpx.Client, tmp_path: Path) -> None:
    info = client.post("/_sim/service-account", json={"project_id": "other-project"}).json()
    assert info["project_id"] == "other-project"
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    assert google_auth_token(path).startswith("ya29.")


def test_credentials_survive_a_restart(sa_file: Path, token: str, sim: SimProcess) -> None:
    """A second simulator on the same data dir honours the file and the tokens of the first."""
    second = start_simulator(sim.data_dir, "--latency", "0.1", "--jitter", "0")
    try:
        info = json.loads(sa_file.read_text())
        info["token_uri"] = f"{second.url}/token"
        moved = sa_file.with_name("moved.json")
        moved.write_text(json.dumps(info))
        fresh = google_auth_token(moved)
        with second.client() as client:
            for credential in (token, fresh):
                response = vertex_submit(client, credential, body(unique("after restart")))
                assert response.status_code == 200, response.text
    finally:
        stop_simulator(second)
