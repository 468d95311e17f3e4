"""What the SDK sends and how it reads the answers, for every endpoint of the contract."""

import json
from datetime import UTC, datetime

import httpx
import pytest
from veo_client import ReferenceImage, VeoClient, Video

from tests.client.fake_api import BASE, KEY, FakeApi, job, ok

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def body_of(request: httpx.Request) -> dict:
    return json.loads(request.content)


def test_a_seed_request_carries_only_what_was_given(sdk: VeoClient, api: FakeApi) -> None:
    api.on("POST", "/api/generate-video", lambda r: ok(job("j1", prompt=body_of(r)["prompt"])))
    video = sdk.generate("a red fox", aspect_ratio="16:9")
    sent = api.seen("POST", "/api/generate-video")[0]
    assert body_of(sent) == {
        "prompt": "a red fox",
        "aspectRatio": "16:9",
        "generationType": "text_to_video",
    }
    assert sent.headers["idempotency-key"]
    assert video.uuid == "j1"
    assert video.status == "pending"
    assert video.queue_position == 2


def test_every_option_is_sent_in_the_api_s_names(sdk: VeoClient, api: FakeApi) -> None:
    api.on(
        "POST", "/api/upload-video-image", ok({"imageUrl": "/api/files/u/1.png", "imageKey": "k1"})
    )
    api.on("POST", "/api/generate-video", ok(job("j2")))
    sdk.generate(
        "a red fox",
        image=PNG,
        last_frame="https://example.com/last.png",
        model="veo-3.1-fast",
        duration_seconds=8,
        resolution="1080p",
        negative_prompt="rain",
        seed=42,
        generate_audio=False,
        sample_count=2,
        reference_images=[ReferenceImage(image_key="k9", reference_type="style")],
        webhook_url="https://example.com/hook",
        webhook_events=["video.processing"],
        idempotency_key="mine-1",
    )
    upload = api.seen("POST", "/api/upload-video-image")[0]
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert b"image/png" in upload.content
    sent = api.seen("POST", "/api/generate-video")[0]
    assert sent.headers["idempotency-key"] == "mine-1"
    assert body_of(sent) == {
        "prompt": "a red fox",
        "generationType": "image_to_video",
        "imageKey": "k1",
        "lastFrameUrl": "https://example.com/last.png",
        "model": "veo-3.1-fast",
        "durationSeconds": 8,
        "resolution": "1080p",
        "negativePrompt": "rain",
        "seed": 42,
        "generateAudio": False,
        "sampleCount": 2,
        "referenceImages": [{"imageKey": "k9", "referenceType": "style"}],
        "webhookUrl": "https://example.com/hook",
        "webhookEvents": ["video.processing"],
    }


def test_the_status_answer_has_every_contract_field(sdk: VeoClient, api: FakeApi) -> None:
    api.on("GET", "/api/video-status/j3", ok(job("j3", "completed", seed=7)))
    video = sdk.status("j3")
    assert video.is_terminal
    assert video.video_url is not None
    assert video.urls == [video.video_url]
    assert video.completed_at == datetime(2026, 12, 7, 10, 1, tzinfo=UTC)
    assert (video.model, video.duration_seconds, video.seed, video.credits) == ("veo-3.1", 8, 7, 2)
    assert video.to_api()["expiresAt"] == "2027-01-06T10:01:00Z"


def test_a_seed_gateway_s_status_answer_is_read_too(sdk: VeoClient, api: FakeApi) -> None:
    seed = {"uuid": "j4", "status": "processing", "progress": 85, "estimatedTime": 120}
    api.on("GET", "/api/video-status/j4", ok({**seed, "somethingNew": 1}))
    video = sdk.status("j4")
    assert (video.progress, video.estimated_time, video.prompt, video.urls) == (85, 120, None, [])
    assert video.to_api()["somethingNew"] == 1


def test_list_walks_every_page_with_the_filters(sdk: VeoClient, api: FakeApi) -> None:
    pages = {
        None: ok({"items": [job("a"), job("b")], "nextCursor": "c2"}),
        "c2": ok({"items": [job("c")], "nextCursor": None}),
    }
    api.on("GET", "/api/videos", lambda r: pages[r.url.params.get("cursor")])
    since = datetime(2026, 12, 1, tzinfo=UTC)
    found = sdk.list(status="pending", created_after=since, limit=2)
    assert [v.uuid for v in found] == ["a", "b", "c"]
    first, second = api.seen("GET", "/api/videos")
    assert dict(first.url.params) == {
        "limit": "2",
        "status": "pending",
        "createdAfter": "2026-12-01T00:00:00Z",
    }
    assert second.url.params["cursor"] == "c2"
    assert [len(p.items) for p in sdk.list(limit=2).pages()] == [2, 1]


def test_cancel_delete_account_and_ledger(sdk: VeoClient, api: FakeApi) -> None:
    api.on("POST", "/api/videos/j5/cancel", ok(job("j5", "cancelled")))
    api.on("DELETE", "/api/videos/j5", ok({"uuid": "j5", "deleted": True}))
    budget = {"limit": 60, "remaining": 59, "resetSeconds": 30}
    account = {
        "accountId": "acc1",
        "name": "demo",
        "credits": 98,
        "rateLimits": {"write": budget, "read": {**budget, "limit": 600}},
        "usage": {"month": "2026-12", "jobs": 1, "creditsSpent": 2},
        "webhookUrl": None,
    }
    api.on("GET", "/api/account", ok(account))
    entry = {
        "id": 1,
        "kind": "debit",
        "amount": -2,
        "jobId": "j5",
        "createdAt": "2026-12-07T10:00:00Z",
    }
    api.on("GET", "/api/account/ledger", ok({"items": [entry], "nextCursor": None}))

    assert sdk.cancel("j5").status == "cancelled"
    assert sdk.delete("j5").deleted
    info = sdk.account()
    assert info.credits == 98
    assert info.rate_limits
    assert info.rate_limits.read
    assert info.rate_limits.read.limit == 600
    assert info.usage
    assert info.usage.credits_spent == 2
    assert [(e.kind, e.amount, e.job_id) for e in sdk.ledger()] == [("debit", -2, "j5")]


def test_download_resolves_a_signed_path_and_reports_progress(
    sdk: VeoClient, api: FakeApi, tmp_path
) -> None:
    api.on("GET", "/api/video-status/j6", ok(job("j6", "completed")))
    api.on("GET", "/api/files/videos/j6.mp4", httpx.Response(200, content=b"x" * 5000))
    seen: list[tuple[int, int | None]] = []
    saved = sdk.download("j6", tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert saved == tmp_path / "j6.mp4"
    assert saved.read_bytes() == b"x" * 5000
    assert seen[-1] == (5000, 5000)
    fetched = api.seen("GET", "/api/files/videos/j6.mp4")[0]
    assert fetched.url.params["signature"] == "ab"
    assert fetched.headers["authorization"] == f"Bearer {KEY}"


def test_a_storage_host_never_sees_the_api_key(sdk: VeoClient, api: FakeApi, tmp_path) -> None:
    url = "https://bucket.example.com/videos/j7.mp4?X-Amz-Signature=1"
    api.on("GET", "/videos/j7.mp4", httpx.Response(200, content=b"mp4"))
    saved = sdk.download(url, tmp_path / "out.mp4")
    assert saved.read_bytes() == b"mp4"
    assert "authorization" not in api.seen("GET", "/videos/j7.mp4")[0].headers


def test_an_unfinished_video_is_not_downloaded(sdk: VeoClient, api: FakeApi, tmp_path) -> None:
    api.on("GET", "/api/video-status/j8", ok(job("j8", "processing")))
    with pytest.raises(Exception, match="processing"):
        sdk.download("j8", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_key_and_url_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, api: FakeApi
) -> None:
    monkeypatch.setenv("VEO_API_KEY", KEY)
    monkeypatch.setenv("VEO_BASE_URL", BASE + "/")
    api.on("GET", "/api/video-status/j9", ok(job("j9")))
    with VeoClient(transport=api.transport()) as client:
        assert client.status("j9").uuid == "j9"
    monkeypatch.delenv("VEO_BASE_URL")
    assert VeoClient().base_url == "http://127.0.0.1:8000"


def test_a_missing_key_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch, api: FakeApi) -> None:
    monkeypatch.delenv("VEO_API_KEY", raising=False)
    from veo_client import VeoError

    client = VeoClient(base_url=BASE, transport=api.transport())
    with pytest.raises(VeoError, match="VEO_API_KEY") as raised:
        client.status("x")
    assert raised.value.code == 1002
    assert api.requests == []


def test_status_asks_the_gateway_to_hold_the_answer(sdk: VeoClient, api: FakeApi) -> None:
    api.on("GET", "/api/video-status/j10", ok(job("j10", "completed")))
    sdk.status("j10", wait=90)
    assert api.seen("GET", "/api/video-status/j10")[0].headers["prefer"] == "wait=60"


def test_video_model_reads_a_webhook_payload() -> None:
    assert Video.model_validate(job("w", "failed", error="blocked")).error == "blocked"
