"""The `veo` command against the API contract: what it sends, prints (`--json`) and exits with."""

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result
from veo_client import VeoClient
from veo_client.cli import exit_codes
from veo_client.cli.app import app

from tests.client.fake_api import BASE, KEY, FakeApi, fail, job, ok, sse

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def veo(api: FakeApi, slept: list[float], monkeypatch: pytest.MonkeyPatch):
    """Runs `veo ARGS...` in-process, its client talking to the fake API."""

    def make_client(ctx) -> VeoClient:
        return VeoClient(ctx.obj.api_key, BASE, transport=api.transport())

    monkeypatch.setattr("veo_client.cli.app.make_client", make_client)

    def run(*args: str, key: str | None = KEY) -> Result:
        env = {"VEO_API_KEY": key} if key else {"VEO_API_KEY": ""}
        return CliRunner().invoke(app, list(args), env=env)

    return run


def stream(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def test_generate_sends_every_option_and_uploads_local_images(
    veo, api: FakeApi, tmp_path: Path
) -> None:
    image, style = tmp_path / "first.png", tmp_path / "style.png"
    image.write_bytes(PNG)
    style.write_bytes(PNG)
    api.on(
        "POST",
        "/api/upload-video-image",
        lambda r: ok(
            {"imageUrl": "/u", "imageKey": "k-first" if b"first" in r.content else "k-style"}
        ),
    )
    api.on("POST", "/api/generate-video", ok(job("j1", credits=8)))
    result = veo(
        "generate", "a red fox", "--image", str(image), "--aspect", "9:16",
        "--model", "veo-3.1-fast", "--duration", "8", "--resolution", "1080p",
        "--negative-prompt", "rain", "--seed", "7", "--no-audio", "--samples", "2",
        "--reference", "https://example.com/fox.png", "--style", str(style),
        "--last-frame", "https://example.com/end.png", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["uuid"] == "j1"
    body = json.loads(api.seen("POST", "/api/generate-video")[0].content)
    assert body == {
        "prompt": "a red fox",
        "generationType": "image_to_video",
        "imageKey": "k-first",
        "lastFrameUrl": "https://example.com/end.png",
        "aspectRatio": "9:16",
        "model": "veo-3.1-fast",
        "durationSeconds": 8,
        "resolution": "1080p",
        "negativePrompt": "rain",
        "seed": 7,
        "generateAudio": False,
        "sampleCount": 2,
        "referenceImages": [
            {"imageUrl": "https://example.com/fox.png", "referenceType": "asset"},
            {"imageKey": "k-style", "referenceType": "style"},
        ],
    }


def test_generate_with_out_waits_and_saves_the_video(veo, api: FakeApi, tmp_path: Path) -> None:
    api.on("POST", "/api/generate-video", ok(job("j2")))
    api.on("GET", "/api/videos/j2/events", stream(sse((1, job("j2", "completed")))))
    api.on("GET", "/api/video-status/j2", ok(job("j2", "completed")))
    api.on("GET", "/api/files/videos/j2.mp4", httpx.Response(200, content=b"mp4 bytes"))
    out = tmp_path / "fox.mp4"
    result = veo("generate", "a red fox", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == b"mp4 bytes"
    printed = json.loads(result.stdout)
    assert (printed["status"], printed["savedTo"]) == ("completed", str(out))


def test_wait_exits_1_when_the_video_failed(veo, api: FakeApi) -> None:
    failed = job("j3", "failed", error="The prompt was blocked", errorCode="content_policy")
    api.on("GET", "/api/videos/j3/events", stream(sse((1, failed))))
    result = veo("wait", "j3")
    assert result.exit_code == exit_codes.JOB_UNSUCCESSFUL
    assert "The prompt was blocked" in result.stdout


def test_ctrl_c_while_waiting_leaves_the_job_and_says_how_to_resume(veo, api: FakeApi) -> None:
    def interrupt(_: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    api.on("POST", "/api/generate-video", ok(job("j4")))
    api.on("GET", "/api/videos/j4/events", interrupt)
    result = veo("generate", "a red fox", "--wait", "--out", "fox.mp4")
    assert result.exit_code == exit_codes.INTERRUPTED
    assert "veo wait j4 --out fox.mp4" in result.stderr
    assert api.seen("POST", "/api/videos/j4/cancel") == []


def test_list_prints_one_page_or_all_of_them(veo, api: FakeApi) -> None:
    pages = {
        None: ok({"items": [job("a"), job("b")], "nextCursor": "c2"}),
        "c2": ok({"items": [job("c", "completed")], "nextCursor": None}),
    }
    api.on("GET", "/api/videos", lambda r: pages[r.url.params.get("cursor")])
    one = veo("list", "--limit", "2", "--status", "pending", "--json")
    assert one.exit_code == 0, one.output
    page = json.loads(one.stdout)
    assert ([i["uuid"] for i in page["items"]], page["nextCursor"]) == (["a", "b"], "c2")
    assert api.seen("GET", "/api/videos")[0].url.params["status"] == "pending"
    every = veo("list", "--limit", "2", "--all", "--json")
    assert [i["uuid"] for i in json.loads(every.stdout)["items"]] == ["a", "b", "c"]
    table = veo("list", "--limit", "2")
    assert "veo list --limit 2 --cursor c2" in table.stderr


def test_cancel_and_a_terminal_job_s_clear_error(veo, api: FakeApi) -> None:
    api.on(
        "POST",
        "/api/videos/j5/cancel",
        ok(job("j5", "cancelled")),
        fail(1000, "uuid: the video is already cancelled", 400),
    )
    first = veo("cancel", "j5", "--json")
    assert first.exit_code == 0
    assert json.loads(first.stdout)["status"] == "cancelled"
    again = veo("cancel", "j5", "--json")
    assert again.exit_code == exit_codes.INVALID_REQUEST
    assert json.loads(again.stdout)["error"]["code"] == 1000


def test_account_shows_credits_and_budgets(veo, api: FakeApi) -> None:
    budget = {"limit": 60, "remaining": 58, "resetSeconds": 12}
    api.on(
        "GET",
        "/api/account",
        ok(
            {
                "accountId": "acc1",
                "name": "demo",
                "credits": 42,
                "rateLimits": {"write": budget, "read": {**budget, "limit": 1200}},
                "usage": {"month": "2026-12", "jobs": 3, "creditsSpent": 6},
                "webhookUrl": None,
            }
        ),
    )
    result = veo("account")
    assert result.exit_code == 0, result.output
    assert "42" in result.stdout
    assert "58/1200 left" in result.stdout
    assert json.loads(veo("account", "--json").stdout)["usage"]["creditsSpent"] == 6


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (fail(1001, "Insufficient credits", 402, {"required": 2, "current": 0}), 4),
        (fail(1002, "Authentication failed", 401), 5),
        (fail(1003, "Rate limit exceeded", 429, **{"Retry-After": "999"}), 6),
        (fail(5000, "Server error", 500), 7),
    ],
)
def test_each_error_has_its_exit_code(veo, api: FakeApi, answer: httpx.Response, code: int) -> None:
    api.on("POST", "/api/generate-video", answer)
    result = veo("generate", "a red fox")
    assert result.exit_code == code
    assert f"error ({json.loads(answer.content)['code']})" in result.stderr


def test_without_a_key_nothing_is_sent(veo, api: FakeApi) -> None:
    result = veo("status", "j6", key=None)
    assert result.exit_code == exit_codes.AUTHENTICATION
    assert "VEO_API_KEY" in result.stderr
    assert api.requests == []


def test_download_and_delete(veo, api: FakeApi, tmp_path: Path) -> None:
    api.on("GET", "/api/video-status/j7", ok(job("j7", "completed")))
    api.on("GET", "/api/files/videos/j7.mp4", httpx.Response(200, content=b"mp4"))
    api.on("DELETE", "/api/videos/j7", ok({"uuid": "j7", "deleted": True}))
    saved = veo("download", "j7", "--out", str(tmp_path), "--json")
    assert saved.exit_code == 0, saved.output
    assert json.loads(saved.stdout) == {"savedTo": str(tmp_path / "j7.mp4"), "bytes": 3}
    assert json.loads(veo("delete", "j7", "--json").stdout) == {"uuid": "j7", "deleted": True}


def test_ctrl_c_while_submitting_says_how_to_retry_without_a_second_job(veo, api: FakeApi) -> None:
    def interrupt(_: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    api.on("POST", "/api/generate-video", interrupt)
    result = veo("generate", "a red fox", "--idempotency-key", "fox-1")
    assert result.exit_code == exit_codes.INTERRUPTED
    assert "veo generate 'a red fox' --idempotency-key fox-1" in result.stderr


def test_a_wait_timeout_leaves_the_job_and_says_how_to_resume(
    veo, api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.client.test_sdk_wait import Clock

    monkeypatch.setattr("veo_client._wait.time", Clock())
    api.on("GET", "/api/video-status/j8", ok(job("j8", "processing")))
    result = veo("wait", "j8", "--timeout", "5", "--json")
    assert result.exit_code == exit_codes.WAIT_TIMEOUT
    assert "veo wait j8" in result.stderr
    assert "still running" in json.loads(result.stdout)["error"]["msg"]


def test_json_is_the_api_s_answer_as_it_came(veo, api: FakeApi) -> None:
    seed = {"uuid": "j9", "status": "processing", "progress": 85, "estimatedTime": 120}
    api.on("GET", "/api/video-status/j9", ok(seed))
    result = veo("status", "j9", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == seed
