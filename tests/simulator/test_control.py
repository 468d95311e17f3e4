"""The /_sim endpoints: counting, stats, config, reset, random chaos faults and fast rendering."""

import asyncio
from pathlib import Path

import httpx

from simulator.config import SimConfig
from simulator.control import control_headers
from simulator.server import create_app
from tests.simulator.conftest import SimProcess
from tests.simulator.helpers import (
    DROPPED,
    KEY,
    gemini_body,
    gemini_poll,
    gemini_submit,
    unique,
    wait_done,
)


def test_health(client: httpx.Client) -> None:
    assert client.get("/_sim/health").json()["status"] == "ok"


def test_submission_counting_and_stats(client: httpx.Client) -> None:
    twice, once = unique("counted twice"), unique("counted once")
    names = [gemini_submit(client, gemini_body(p)).json()["name"] for p in (twice, twice, once)]
    assert len(set(names)) == 3

    ledger = client.get("/_sim/submissions", params={"prompt": twice}).json()
    assert ledger["count"] == 2
    assert ledger["operations"] == names[:2]
    assert client.get("/_sim/submissions", params={"prompt": "never sent"}).json()["count"] == 0

    stats = client.get("/_sim/stats").json()
    assert stats["submissions"]["accepted"] == 3
    assert stats["submissions"]["by_prompt"] == {twice: 2, once: 1}
    assert stats["operations"]["total"] == 3
    assert stats["in_flight"] == 3
    assert stats["calls"]["gemini.submit"] == 3
    assert (
        "by_prompt" not in client.get("/_sim/stats", params={"prompts": "0"}).json()["submissions"]
    )

    wait_done(lambda: gemini_poll(client, names[0]))
    client.post("/_sim/reset")
    stats = client.get("/_sim/stats").json()
    assert stats["submissions"]["accepted"] == 0
    assert stats["operations"]["total"] == 0


def test_config_changes_at_run_time(client: httpx.Client) -> None:
    config = client.post("/_sim/config", json={"latency_s": 30, "jitter_s": 0}).json()
    assert config["latency_s"] == 30
    name = gemini_submit(client, gemini_body(unique("slow config"))).json()["name"]
    info = client.get(f"/_sim/operations/{name}").json()
    assert info["latency_s"] == 30
    bad = client.post("/_sim/config", json={"fault_rate": 2})
    assert bad.status_code == 400
    client.post("/_sim/reset")
    assert client.get("/_sim/config").json()["latency_s"] == 0.2


def _chaos_run(client: httpx.Client, prompt: str) -> list[str]:
    outcomes = []
    for _ in range(30):
        try:
            response = gemini_submit(client, gemini_body(prompt))
        except DROPPED:
            outcomes.append("drop")
            continue
        outcomes.append(str(response.status_code))
    return outcomes


def test_random_faults_never_accept_and_are_reproducible(client: httpx.Client) -> None:
    client.post("/_sim/config", json={"fault_rate": 0.7, "slow_s": 0.01, "seed": 42})
    prompt = unique("chaos")
    first = _chaos_run(client, prompt)
    stats = client.get("/_sim/stats").json()
    assert stats["submissions"]["accepted"] == first.count("200")
    assert set(first) <= {"200", "429", "500", "503", "drop"}
    assert {"429", "500", "503", "drop"} & set(first)
    assert stats["faults_by_source"]["random"] >= 10

    client.post("/_sim/config", json={"seed": 42})  # reseeding replays the same fault sequence
    assert _chaos_run(client, prompt) == first


def test_fast_render_reuses_one_clip(client: httpx.Client) -> None:
    client.post("/_sim/config", json={"render": "fast", "latency_s": 0})
    clips = []
    for text in ("first prompt", "second prompt"):
        name = gemini_submit(client, gemini_body(unique(text))).json()["name"]
        done = wait_done(lambda name=name: gemini_poll(client, name))
        uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
        clips.append(client.get(uri, headers=KEY, follow_redirects=True).content)
    assert clips[0] == clips[1]
    assert clips[0][4:8] == b"ftyp"


def test_unknown_path_is_google_shaped(client: httpx.Client) -> None:
    response = client.get("/v1beta/nothing/here")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


CONTROL = [
    ("POST", "/_sim/reset"),
    ("GET", "/_sim/stats"),
    ("GET", "/_sim/submissions"),
    ("GET", "/_sim/operations/anything"),
    ("GET", "/_sim/config"),
    ("POST", "/_sim/config"),
    ("POST", "/_sim/service-account"),
]


def test_control_endpoints_refuse_a_request_without_the_token(
    client: httpx.Client, sim: SimProcess
) -> None:
    """A stranger reaching the port (a webhook aimed at it, say) can neither wipe nor read it."""
    name = gemini_submit(client, gemini_body(unique("kept"))).json()["name"]
    for headers in ({}, control_headers("a-wrong-token")):
        with sim.client(headers=headers) as stranger:
            for method, path in CONTROL:
                answer = stranger.request(method, path, json={"latency_s": 99})
                assert answer.status_code == 401, (method, path, answer.text)
                assert "X-Sim-Token" in answer.json()["error"]["message"]
            assert stranger.get("/_sim/health").json()["status"] == "ok"  # probes stay open
    assert client.get(f"/_sim/operations/{name}").status_code == 200  # nothing was reset
    assert client.get("/_sim/config").json()["latency_s"] == 0.2  # nor reconfigured


def test_control_endpoints_are_closed_without_a_configured_token(tmp_path: Path) -> None:
    async def ask() -> tuple[httpx.Response, httpx.Response]:
        app = create_app(SimConfig(data_dir=tmp_path))  # no control token
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            reset = await client.post("/_sim/reset", headers=control_headers(""))
            return reset, await client.get("/_sim/health")

    reset, health = asyncio.run(ask())
    assert reset.status_code == 403
    assert "closed" in reset.json()["error"]["message"]
    assert health.status_code == 200
