"""Vertex details around the request body: the credentials' own headers (google-auth's
`apply()`, so a quota project travels), the host an operation is polled at, and the
process-wide `generateAudio` setting."""

from pathlib import Path

import pytest

from shared.settings import Settings
from tests.upstream.conftest import Sim, run
from tests.upstream.fake_server import FakeServer
from worker.upstream import build_upstream
from worker.upstream.base import SubmitRequest, VideoSettings
from worker.upstream.vertex import VertexUpstream, operation_base_url

MODEL = "veo-3.1-generate-001"
PARENT = f"projects/proj-x/locations/europe-west4/publishers/google/models/{MODEL}"


def test_the_credentials_quota_project_travels_with_each_call(
    fake: FakeServer, sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Application default credentials may name a quota project (a user's ADC file, or
    GOOGLE_CLOUD_QUOTA_PROJECT); without `x-goog-user-project` Vertex would bill and limit
    another project."""
    credentials = sim.service_account(tmp_path / "sa.json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
    monkeypatch.setenv("GOOGLE_CLOUD_QUOTA_PROJECT", "billing-proj")
    fake.routes[f"/v1/{PARENT}:predictLongRunning"] = lambda h: h.send_json(200, {"name": "op"})
    adapter = VertexUpstream(
        project="proj-x",
        location="europe-west4",
        video=VideoSettings(model=MODEL),
        base_url=fake.url,
        credentials_file="",  # application default credentials
    )

    run(adapter, lambda a: a.submit(SubmitRequest("a fox", "16:9")))

    (seen,) = fake.seen
    assert seen.headers["x-goog-user-project"] == "billing-proj"
    assert seen.headers["authorization"].startswith("Bearer ")


@pytest.mark.parametrize(
    ("operation", "base_url"),
    [
        (f"{PARENT}/operations/1", "https://europe-west4-aiplatform.googleapis.com"),
        (
            f"projects/p/locations/global/publishers/google/models/{MODEL}/operations/2",
            "https://aiplatform.googleapis.com",
        ),
        ("models/veo/operations/3", None),
    ],
)
def test_an_operation_is_polled_in_its_own_location(operation: str, base_url: str | None) -> None:
    """Not at today's VEO_VERTEX_LOCATION: operations started before a change of region still
    live where they started."""
    assert operation_base_url(operation) == base_url


def test_without_a_configured_endpoint_the_poll_host_follows_the_operation() -> None:
    adapter = VertexUpstream(
        project="p", location="us-central1", video=VideoSettings(model=MODEL), base_url=""
    )
    assert adapter.base_url == "https://us-central1-aiplatform.googleapis.com"
    assert adapter._poll_base_url(f"{PARENT}/operations/1") == (
        "https://europe-west4-aiplatform.googleapis.com"
    )


def test_generate_audio_is_a_setting(
    fake: FakeServer, sim: Sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VEO_GENERATE_AUDIO=false: jobs that do not choose ask Vertex for silent (cheaper) videos."""
    for name, value in {
        "VEO_UPSTREAM_BACKEND": "vertex",
        "VEO_VERTEX_BASE_URL": fake.url,
        "VEO_VERTEX_PROJECT": "proj-x",
        "VEO_VERTEX_LOCATION": "europe-west4",
        "VEO_VERTEX_CREDENTIALS_FILE": str(sim.service_account(tmp_path / "sa.json")),
        "VEO_GENERATE_AUDIO": "false",
    }.items():
        monkeypatch.setenv(name, value)
    fake.routes[f"/v1/{PARENT}:predictLongRunning"] = lambda h: h.send_json(200, {"name": "op"})
    adapter = build_upstream(Settings())

    run(adapter, lambda a: a.submit(SubmitRequest("a quiet fox", "16:9")))

    assert fake.seen[0].json()["parameters"]["generateAudio"] is False
