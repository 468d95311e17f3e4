"""The Vertex adapter on the wire: real tokens from the simulator's OAuth endpoint, requests
checked on a scripted server (paths, bodies, where the bearer token goes)."""

import json
from datetime import timedelta
from pathlib import Path

import pytest

from shared.errors import UpstreamConfigError
from tests.upstream.conftest import Sim, run
from tests.upstream.fake_server import FakeServer
from worker.upstream.base import SubmitRequest, VideoRef, VideoSettings
from worker.upstream.vertex import VertexUpstream

MODEL = "veo-3.1-generate-001"
PARENT = f"projects/proj-x/locations/europe-west4/publishers/google/models/{MODEL}"
OPERATION = f"{PARENT}/operations/0f6b1c2e-8d8e-4c57-9c1e-5d6c2f7e9a10"


def vertex(
    base_url: str,
    credentials_file: Path,
    *,
    project: str = "proj-x",
    gcs: str = "",
    gcs_base_url: str = "",
) -> VertexUpstream:
    return VertexUpstream(
        project=project,
        location="europe-west4",
        video=VideoSettings(model=MODEL, negative_prompt="blurry"),
        base_url=base_url,
        credentials_file=str(credentials_file),
        output_gcs_uri=gcs,
        gcs_base_url=gcs_base_url or base_url,
    )


@pytest.fixture
def credentials(sim: Sim, tmp_path: Path) -> Path:
    return sim.service_account(tmp_path / "service-account.json")


def test_submit_path_body_and_bearer_token(fake: FakeServer, credentials: Path) -> None:
    fake.routes[f"/v1/{PARENT}:predictLongRunning"] = lambda h: h.send_json(
        200, {"name": OPERATION}
    )
    adapter = vertex(fake.url, credentials, gcs="gs://veo-out/jobs/")

    assert run(adapter, lambda a: a.submit(SubmitRequest("a fox", "9:16"))) == OPERATION

    (seen,) = fake.seen
    assert seen.headers["authorization"].startswith("Bearer ya29.")
    assert seen.json() == {
        "instances": [{"prompt": "a fox"}],
        "parameters": {
            "aspectRatio": "9:16",
            "resolution": "720p",
            "durationSeconds": 8,
            "sampleCount": 1,
            "negativePrompt": "blurry",
            "generateAudio": True,
            "storageUri": "gs://veo-out/jobs/",
        },
    }


def test_project_defaults_to_the_service_accounts(
    fake: FakeServer, sim: Sim, credentials: Path
) -> None:
    project = json.loads(credentials.read_text())["project_id"]
    parent = f"projects/{project}/locations/europe-west4/publishers/google/models/{MODEL}"
    path = f"/v1/{parent}:predictLongRunning"
    fake.routes[path] = lambda h: h.send_json(200, {"name": "x"})
    run(vertex(fake.url, credentials, project=""), lambda a: a.submit(SubmitRequest("p", "16:9")))
    assert fake.seen[0].path == path


def test_poll_posts_fetch_predict_operation_and_refreshes_only_when_expired(
    fake: FakeServer, sim: Sim, credentials: Path
) -> None:
    fake.routes[f"/v1/{PARENT}:fetchPredictOperation"] = lambda h: h.send_json(
        200, {"name": OPERATION}
    )
    tokens_before = sim.calls("oauth.token")

    async def scenario(a: VertexUpstream) -> None:
        for _ in range(3):
            assert not (await a.poll(OPERATION)).done
        credentials_object = a._tokens._credentials
        credentials_object.expiry -= timedelta(hours=2)
        await a.poll(OPERATION)

    run(vertex(fake.url, credentials), scenario)

    assert [s.json() for s in fake.seen] == [{"operationName": OPERATION}] * 4
    assert sim.calls("oauth.token") == tokens_before + 2  # the first call, then the expired one


@pytest.mark.parametrize(("status", "ok"), [(200, True), (404, False)])
def test_check_model_reads_the_publisher_model(
    fake: FakeServer, credentials: Path, status: int, ok: bool
) -> None:
    """Model Garden publishers.models.get: unbilled; the simulator does not serve it yet."""
    body = (
        {"name": f"publishers/google/models/{MODEL}"}
        if ok
        else {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}
    )
    fake.routes[f"/v1/publishers/google/models/{MODEL}"] = lambda h: h.send_json(status, body)
    adapter = vertex(fake.url, credentials)
    if ok:
        run(adapter, lambda a: a.check_model())
    else:
        with pytest.raises(UpstreamConfigError):
            run(adapter, lambda a: a.check_model())
    assert fake.seen[0].headers["authorization"].startswith("Bearer ")


def test_gcs_object_name_is_encoded_and_the_token_stays_home(
    fake: FakeServer, other: FakeServer, credentials: Path, tmp_path: Path
) -> None:
    path = "/storage/v1/b/veo-out/o/jobs%2Fabc%2Fsample_0.mp4"
    fake.routes[path] = lambda h: h.redirect(f"{other.url}/signed/sample_0.mp4")
    other.routes["/signed/sample_0.mp4"] = lambda h: h.send(200, b"\x00\x00\x00\x18ftypmp42")
    video = VideoRef(uri="gs://veo-out/jobs/abc/sample_0.mp4")

    size = run(
        vertex("http://127.0.0.1:9", credentials, gcs_base_url=fake.url),
        lambda a: a.download(video, tmp_path / "v.mp4", max_bytes=100),
    )

    assert size == 12
    assert fake.seen[0].path == path
    assert fake.seen[0].query == "alt=media"
    assert fake.seen[0].headers["authorization"].startswith("Bearer ")
    assert "authorization" not in other.seen[0].headers


def test_missing_credentials_file_is_a_config_error(fake: FakeServer, tmp_path: Path) -> None:
    with pytest.raises(UpstreamConfigError, match="cannot load Vertex credentials"):
        run(
            vertex(fake.url, tmp_path / "absent.json"),
            lambda a: a.submit(SubmitRequest("p", "16:9")),
        )
    assert fake.seen == []


def test_refused_token_is_a_config_error(fake: FakeServer, sim: Sim, tmp_path: Path) -> None:
    info = sim.service_account_info()
    info["private_key_id"] = "0" * 40  # a key the token endpoint never issued
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(info))
    with pytest.raises(UpstreamConfigError, match="token refresh failed") as caught:
        run(vertex(fake.url, path), lambda a: a.submit(SubmitRequest("p", "16:9")))
    assert "PRIVATE KEY" not in caught.value.message
    assert fake.seen == []
