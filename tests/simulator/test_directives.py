"""Every prompt directive, observed from the outside over real HTTP (plus the parser itself)."""

import time

import httpx
import pytest

from simulator.directives import DirectiveError, Step, parse, strip
from tests.simulator.helpers import (
    DROPPED,
    KEY,
    error_of,
    gemini_body,
    gemini_poll,
    gemini_submit,
    unique,
    wait_done,
)


def submitted(client: httpx.Client, prompt: str) -> int:
    return int(client.get("/_sim/submissions", params={"prompt": prompt}).json()["count"])


def submit_ok(client: httpx.Client, prompt: str) -> str:
    response = gemini_submit(client, gemini_body(prompt))
    assert response.status_code == 200, response.text
    return str(response.json()["name"])


def test_parser_grammar() -> None:
    directives = parse("cat [sim latency=2.5 poll-fault=500x3 poll-fault=drop x2] [SIM slow=1x1]")
    assert directives.latency_s == 2.5
    assert directives.faults["poll"] == (Step("500", 3), Step("drop", 2))
    assert [directives.fault_for("poll", i) for i in range(6)] == [
        Step("500", 3),
        Step("500", 3),
        Step("500", 3),
        Step("drop", 2),
        Step("drop", 2),
        None,
    ]
    assert directives.slow_for("submit", 0) == 1.0
    assert directives.slow_for("download", 1) == 0.0
    assert parse("no directives here").empty
    assert parse("[sim submit-fault=quota-day]").fault_for("submit", 99) == Step("quota-day")
    assert parse("[sim error=INTERNAL]").error_code == 13
    assert strip("a [sim vanish] dog") == "a dog"
    for bad in ("[sim latency=fast]", "[sim submit-fault=418]", "[sim frobnicate]", "[sim x2]"):
        with pytest.raises(DirectiveError):
            parse(bad)


def test_bad_directive_is_a_400(client: httpx.Client) -> None:
    response = gemini_submit(client, gemini_body("[sim submit-fault=teapot]"))
    assert response.status_code == 400
    assert "simulator directive" in error_of(response)["message"]


def test_latency(client: httpx.Client) -> None:
    name = submit_ok(client, unique("[sim latency=0.6]"))
    assert "done" not in gemini_poll(client, name).json()
    info = client.get(f"/_sim/operations/{name}").json()
    assert info["latency_s"] == 0.6
    assert info["state"] == "running"
    wait_done(lambda: gemini_poll(client, name))
    assert time.time() >= info["done_at"]


def test_submit_fault_429_twice_then_accepted(client: httpx.Client) -> None:
    prompt = unique("[sim submit-fault=429x2 retry-after=3]")
    for _ in range(2):
        response = gemini_submit(client, gemini_body(prompt))
        assert response.status_code == 429
        assert response.headers["retry-after"] == "3"
        error = error_of(response)
        assert error["status"] == "RESOURCE_EXHAUSTED"
        assert "per day" not in error["message"]
        types = [detail["@type"] for detail in error["details"]]
        assert "type.googleapis.com/google.rpc.RetryInfo" in types
        assert submitted(client, prompt) == 0
    submit_ok(client, prompt)
    assert submitted(client, prompt) == 1
    assert client.get("/_sim/stats").json()["faults"]["submit:429"] == 2


def test_submit_fault_500_once(client: httpx.Client) -> None:
    prompt = unique("[sim submit-fault=500x1]")
    first = gemini_submit(client, gemini_body(prompt))
    assert first.status_code == 500
    assert error_of(first)["status"] == "INTERNAL"
    submit_ok(client, prompt)
    assert submitted(client, prompt) == 1


def test_submit_fault_drop_creates_nothing(client: httpx.Client) -> None:
    prompt = unique("[sim submit-fault=drop x1]")
    with pytest.raises(DROPPED):
        gemini_submit(client, gemini_body(prompt))
    assert submitted(client, prompt) == 0
    submit_ok(client, prompt)
    assert submitted(client, prompt) == 1


def test_submit_fault_daily_quota(client: httpx.Client) -> None:
    response = gemini_submit(client, gemini_body(unique("[sim submit-fault=quota-day]")))
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    error = error_of(response)
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert "per day" in error["message"]
    (quota,) = [d for d in error["details"] if d["@type"].endswith("google.rpc.QuotaFailure")]
    assert "PerDay" in quota["violations"][0]["quotaId"]


def test_poll_fault_500x3(client: httpx.Client) -> None:
    name = submit_ok(client, unique("[sim latency=0 poll-fault=500x3]"))
    codes = [gemini_poll(client, name).status_code for _ in range(4)]
    assert codes == [500, 500, 500, 200]
    assert gemini_poll(client, name).json()["done"] is True


def test_poll_fault_drop_x2(client: httpx.Client) -> None:
    name = submit_ok(client, unique("[sim latency=0 poll-fault=drop x2]"))
    for _ in range(2):
        with pytest.raises(DROPPED):
            gemini_poll(client, name)
    assert gemini_poll(client, name).json()["done"] is True
    assert client.get("/_sim/stats").json()["faults"]["poll:drop"] == 2


def test_slow(client: httpx.Client) -> None:
    prompt = unique("[sim latency=0 poll-slow=0.5x1]")
    name = submit_ok(client, prompt)
    started = time.monotonic()
    assert gemini_poll(client, name).status_code == 200
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    gemini_poll(client, name)
    assert time.monotonic() - started < 0.4  # x1: only the first poll is slow

    started = time.monotonic()
    submit_ok(client, unique("[sim slow=0.3]"))
    assert time.monotonic() - started >= 0.3


def test_block_safety_nests_inside_generate_video_response(client: httpx.Client) -> None:
    name = submit_ok(client, unique("[sim latency=0 block=safety]"))
    done = wait_done(lambda: gemini_poll(client, name))
    assert "error" not in done
    video_response = done["response"]["generateVideoResponse"]
    assert video_response["raiMediaFilteredCount"] == 1
    assert "not been charged" in video_response["raiMediaFilteredReasons"][0]
    assert "generatedSamples" not in video_response
    assert "raiMediaFilteredCount" not in done["response"]
    file_id = name.rpartition("/")[2]
    download = client.get(f"/v1beta/files/{file_id}:download", params={"alt": "media"}, headers=KEY)
    assert download.status_code == 403  # Google: "... or it may not exist"


def test_error(client: httpx.Client) -> None:
    name = submit_ok(client, unique("[sim latency=0 error=3]"))
    done = wait_done(lambda: gemini_poll(client, name))
    assert done["error"]["code"] == 3
    assert done["error"]["message"]
    assert "response" not in done


def test_never_finish(client: httpx.Client) -> None:
    name = submit_ok(client, unique("[sim latency=0 never-finish]"))
    time.sleep(0.05)
    assert gemini_poll(client, name).json() == {"name": name}
    info = client.get(f"/_sim/operations/{name}").json()
    assert info["state"] == "running"
    assert info["done_at"] is None
    assert client.get("/_sim/stats").json()["in_flight"] == 1


def test_vanish(client: httpx.Client) -> None:
    prompt = unique("[sim vanish]")
    name = submit_ok(client, prompt)
    response = gemini_poll(client, name)
    assert response.status_code == 404
    assert error_of(response)["status"] == "NOT_FOUND"
    assert submitted(client, prompt) == 1  # it was accepted: the upstream just lost it


def test_download_fault_500x1(client: httpx.Client) -> None:
    name = submit_ok(client, unique("[sim latency=0 download-fault=500x1]"))
    done = wait_done(lambda: gemini_poll(client, name))
    uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    assert client.get(uri, headers=KEY, follow_redirects=True).status_code == 500
    second = client.get(uri, headers=KEY, follow_redirects=True)
    assert second.status_code == 200
    assert second.content[4:8] == b"ftyp"


def test_fault_sequence_and_always(client: httpx.Client) -> None:
    name = submit_ok(client, unique("[sim latency=0 poll-fault=503x1 poll-fault=429x1]"))
    assert [gemini_poll(client, name).status_code for _ in range(3)] == [503, 429, 200]
    always = unique("[sim submit-fault=503]")
    assert {gemini_submit(client, gemini_body(always)).status_code for _ in range(3)} == {503}


def test_client_that_gives_up_on_a_slow_submit_leaves_no_operation(client: httpx.Client) -> None:
    prompt = unique("[sim submit-slow=0.5x1]")
    with (
        httpx.Client(base_url=client.base_url, timeout=0.1) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        gemini_submit(impatient, gemini_body(prompt))
    deadline = time.monotonic() + 3  # wait until the simulator has finished that slow answer
    while client.get("/_sim/stats").json()["calls"].get("gemini.submit_abandoned") != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert submitted(client, prompt) == 0
    submit_ok(client, prompt)  # the retry is the one and only submission
    assert submitted(client, prompt) == 1
