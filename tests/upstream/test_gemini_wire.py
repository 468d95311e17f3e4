"""The Gemini adapter on the wire, against scripted real HTTP servers (no mocks).

The simulator tests cover the protocol end to end; these cover what needs exact control: the
request body, a second origin for redirects, body-size caps, dropped and stalled connections.
"""

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.errors import (
    UpstreamConfigError,
    UpstreamOutcomeUnknown,
    UpstreamPermanentError,
    UpstreamTransientError,
)
from tests.upstream.conftest import run
from tests.upstream.fake_server import FakeServer, Handler, Route
from worker.upstream.base import (
    ImageInput,
    ReferenceImageInput,
    SubmitRequest,
    VideoRef,
    VideoSettings,
)
from worker.upstream.gemini import GeminiUpstream

KEY = "AIzaSy-test-key-0123456789"
MODEL = "veo-3.1-generate-preview"
SUBMIT_PATH = f"/v1beta/models/{MODEL}:predictLongRunning"
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8


def gemini(base_url: str, *, negative_prompt: str = "", timeout_s: float = 5.0) -> GeminiUpstream:
    return GeminiUpstream(
        base_url=base_url,
        api_key=KEY,
        video=VideoSettings(model=MODEL, negative_prompt=negative_prompt),
        timeout_s=timeout_s,
        connect_timeout_s=1.0,
    )


def answer_operation(handler: Handler) -> None:
    handler.send_json(200, {"name": f"models/{MODEL}/operations/op123"})


def test_text_to_video_body_leaves_person_generation_out(fake: FakeServer) -> None:
    fake.routes[SUBMIT_PATH] = answer_operation
    adapter = gemini(fake.url, negative_prompt="cartoon")

    name = run(adapter, lambda a: a.submit(SubmitRequest("a lion at dawn", "16:9")))

    assert name == f"models/{MODEL}/operations/op123"
    (seen,) = fake.seen_at(SUBMIT_PATH)
    assert seen.method == "POST"
    assert seen.headers["x-goog-api-key"] == KEY
    assert seen.query == ""  # never ?key=
    assert seen.json() == {
        "instances": [{"prompt": "a lion at dawn"}],
        "parameters": {
            "aspectRatio": "16:9",
            "resolution": "720p",
            "durationSeconds": 8,
            "sampleCount": 1,
            "negativePrompt": "cartoon",
        },
    }


def test_image_to_video_body_uses_bytes_base64_and_no_person_generation(
    fake: FakeServer,
) -> None:
    fake.routes[SUBMIT_PATH] = answer_operation
    image = ImageInput(b"\x89PNG\r\n\x1a\nfake", "image/png")

    run(gemini(fake.url), lambda a: a.submit(SubmitRequest("she waves", "9:16", image)))

    body = fake.seen_at(SUBMIT_PATH)[0].json()
    assert body["instances"][0]["image"] == {
        "bytesBase64Encoded": base64.b64encode(image.data).decode(),
        "mimeType": "image/png",
    }
    assert "personGeneration" not in body["parameters"]  # the live API refuses allow_adult
    assert body["parameters"]["aspectRatio"] == "9:16"
    assert "negativePrompt" not in body["parameters"]


def test_per_job_options_replace_the_settings_and_reach_the_body(fake: FakeServer) -> None:
    path = "/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning"
    fake.routes[path] = answer_operation
    first, last = ImageInput(b"first", "image/png"), ImageInput(b"last", "image/jpeg")
    request = SubmitRequest(
        "a door opens",
        "16:9",
        first,
        model="veo-3.1-fast-generate-preview",
        duration_s=8,
        resolution="1080p",
        negative_prompt="fog",
        last_frame=last,
    )

    run(gemini(fake.url, negative_prompt="cartoon"), lambda a: a.submit(request))

    body = fake.seen_at(path)[0].json()
    assert body["instances"][0]["lastFrame"] == {
        "bytesBase64Encoded": base64.b64encode(b"last").decode(),
        "mimeType": "image/jpeg",
    }
    assert body["parameters"] == {
        "aspectRatio": "16:9",
        "resolution": "1080p",
        "durationSeconds": 8,
        "sampleCount": 1,
        "negativePrompt": "fog",
    }


def test_reference_images_are_sent_as_the_sdk_sends_them(fake: FakeServer) -> None:
    fake.routes[SUBMIT_PATH] = answer_operation
    refs = tuple(
        ReferenceImageInput(ImageInput(bytes([n]) * 4, "image/png"), "asset") for n in range(3)
    )

    run(gemini(fake.url), lambda a: a.submit(SubmitRequest("her", "16:9", reference_images=refs)))

    (instance,) = fake.seen_at(SUBMIT_PATH)[0].json()["instances"]
    assert [ref["referenceType"] for ref in instance["referenceImages"]] == ["ASSET"] * 3
    assert instance["referenceImages"][2]["image"]["bytesBase64Encoded"] == (
        base64.b64encode(bytes([2]) * 4).decode()
    )


@pytest.mark.parametrize(
    "options",
    [{"seed": 1}, {"generate_audio": False}, {"sample_count": 2}],
    ids=["seed", "no audio", "two samples"],
)
def test_options_only_vertex_takes_are_refused_before_any_call(
    fake: FakeServer, options: dict[str, Any]
) -> None:
    with pytest.raises(UpstreamConfigError, match="vertex backend"):
        run(gemini(fake.url), lambda a: a.submit(SubmitRequest("x", "16:9", **options)))
    assert fake.seen == []


def test_a_retired_model_check_names_the_veo_models_the_key_lists(fake: FakeServer) -> None:
    retired = {"code": 404, "message": f"models/{MODEL} is no longer available.", "status": ""}
    fake.routes[f"/v1beta/models/{MODEL}"] = lambda h: h.send_json(404, {"error": retired})
    models = [{"name": "models/gemini-2.5-flash"}, {"name": "models/veo-3.0-generate-001"}]
    fake.routes["/v1beta/models"] = lambda h: h.send_json(200, {"models": models})

    with pytest.raises(UpstreamConfigError, match=r"lists: veo-3\.0-generate-001$"):
        run(gemini(fake.url), lambda a: a.check_model())


def test_a_model_check_with_no_veo_model_listed_says_so(fake: FakeServer) -> None:
    retired = {"code": 404, "message": f"models/{MODEL} is no longer available.", "status": ""}
    fake.routes[f"/v1beta/models/{MODEL}"] = lambda h: h.send_json(404, {"error": retired})
    fake.routes["/v1beta/models"] = lambda h: h.send_json(200, {"models": []})

    with pytest.raises(UpstreamConfigError, match=r"lists: none \(use the vertex backend"):
        run(gemini(fake.url), lambda a: a.check_model())


def test_submit_429_with_retry_after_is_transient(fake: FakeServer) -> None:
    fake.routes[SUBMIT_PATH] = lambda h: h.send_json(
        429,
        {
            "error": {
                "code": 429,
                "message": "Resource has been exhausted",
                "status": "RESOURCE_EXHAUSTED",
            }
        },
        {"Retry-After": "3"},
    )
    with pytest.raises(UpstreamTransientError) as caught:
        run(gemini(fake.url), lambda a: a.submit(SubmitRequest("x", "16:9")))
    assert caught.value.retry_after_s == 3.0
    assert caught.value.status == 429


def test_unset_key_is_a_config_error_before_any_call(fake: FakeServer) -> None:
    adapter = GeminiUpstream(base_url=fake.url, api_key="", video=VideoSettings(model=MODEL))
    with pytest.raises(UpstreamConfigError):
        run(adapter, lambda a: a.submit(SubmitRequest("x", "16:9")))
    assert fake.seen == []


def test_1080p_needs_8_seconds(fake: FakeServer) -> None:
    video = VideoSettings(model=MODEL, resolution="1080p", duration_s=4)
    adapter = GeminiUpstream(base_url=fake.url, api_key=KEY, video=video)
    with pytest.raises(UpstreamConfigError, match="8 s"):
        run(adapter, lambda a: a.submit(SubmitRequest("x", "16:9")))
    assert fake.seen == []


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {
                "error": {
                    "code": 404,
                    "message": f"models/{MODEL} is no longer available",
                    "status": "NOT_FOUND",
                }
            },
            None,
        ),
        ({"name": f"models/{MODEL}", "supportedGenerationMethods": ["generateContent"]}, None),
        ({"name": f"models/{MODEL}", "supportedGenerationMethods": ["predictLongRunning"]}, "ok"),
    ],
)
def test_check_model(fake: FakeServer, answer: dict[str, object], expected: str | None) -> None:
    status = 404 if "error" in answer else 200
    fake.routes[f"/v1beta/models/{MODEL}"] = lambda h: h.send_json(status, answer)
    if expected is None:
        with pytest.raises(UpstreamConfigError):
            run(gemini(fake.url), lambda a: a.check_model())
    else:
        run(gemini(fake.url), lambda a: a.check_model())
    assert fake.seen[0].headers["x-goog-api-key"] == KEY


def test_poll_404_is_a_lost_operation(fake: FakeServer) -> None:
    with pytest.raises(UpstreamPermanentError) as caught:
        run(gemini(fake.url), lambda a: a.poll(f"models/{MODEL}/operations/gone"))
    assert caught.value.code == "upstream_operation_lost"
    assert fake.seen[0].path == f"/v1beta/models/{MODEL}/operations/gone"


def test_poll_refuses_a_name_that_is_not_an_operation(fake: FakeServer) -> None:
    with pytest.raises(UpstreamPermanentError):
        run(gemini(fake.url), lambda a: a.poll("models/x/operations/../../files/secret"))
    assert fake.seen == []


def test_download_never_sends_the_key_to_another_origin(
    fake: FakeServer, other: FakeServer, tmp_path: Path
) -> None:
    fake.routes["/v1beta/files/abc:download"] = lambda h: h.redirect(f"{other.url}/blob/abc.mp4")
    other.routes["/blob/abc.mp4"] = lambda h: h.send(200, MP4, {"Content-Type": "video/mp4"})
    dest = tmp_path / "video.mp4"
    uri = f"{fake.url}/v1beta/files/abc:download?alt=media"

    size = run(gemini(fake.url), lambda a: a.download(VideoRef(uri=uri), dest, max_bytes=10**6))

    assert size == len(MP4)
    assert dest.read_bytes() == MP4
    assert fake.seen[0].headers["x-goog-api-key"] == KEY
    assert "x-goog-api-key" not in other.seen[0].headers
    assert KEY not in other.seen[0].query


def test_httpx_alone_would_forward_the_key_across_origins(
    fake: FakeServer, other: FakeServer
) -> None:
    """Why the adapter follows redirects itself: httpx strips only Authorization."""
    fake.routes["/start"] = lambda h: h.redirect(f"{other.url}/elsewhere")
    other.routes["/elsewhere"] = lambda h: h.send(200, b"ok")
    httpx.get(f"{fake.url}/start", headers={"x-goog-api-key": KEY}, follow_redirects=True)
    assert other.seen[0].headers.get("x-goog-api-key") == KEY


def test_download_keeps_the_key_on_a_same_origin_redirect(fake: FakeServer, tmp_path: Path) -> None:
    fake.routes["/v1beta/files/abc:download"] = lambda h: h.redirect("/v1beta/files/abc/blob", 307)
    fake.routes["/v1beta/files/abc/blob"] = lambda h: h.send(200, MP4)
    uri = f"{fake.url}/v1beta/files/abc:download?alt=media"

    run(
        gemini(fake.url),
        lambda a: a.download(VideoRef(uri=uri), tmp_path / "v.mp4", max_bytes=10**6),
    )

    assert [s.headers.get("x-goog-api-key") for s in fake.seen] == [KEY, KEY]


def test_download_gives_up_after_five_redirects(fake: FakeServer, tmp_path: Path) -> None:
    fake.routes["/loop"] = lambda h: h.redirect("/loop")
    dest = tmp_path / "v.mp4"
    with pytest.raises(UpstreamPermanentError, match="redirects"):
        run(
            gemini(fake.url),
            lambda a: a.download(VideoRef(uri=f"{fake.url}/loop"), dest, max_bytes=10),
        )
    assert len(fake.seen) == 6  # the first request and five redirects
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("route", "max_bytes"),
    [
        # a declared size over the cap is refused before the body is read
        pytest.param(lambda h: h.send(200, MP4), 100, id="declared"),
        # a body without Content-Length is stopped once it passes the cap
        pytest.param(lambda h: h.send_until_close(iter([b"a" * 600] * 5)), 1000, id="undeclared"),
    ],
)
def test_download_over_the_cap_is_refused_and_leaves_no_file(
    fake: FakeServer, tmp_path: Path, route: Route, max_bytes: int
) -> None:
    fake.routes["/video"] = route
    with pytest.raises(UpstreamPermanentError) as caught:
        run(
            gemini(fake.url),
            lambda a: a.download(
                VideoRef(uri=f"{fake.url}/video"), tmp_path / "v.mp4", max_bytes=max_bytes
            ),
        )
    assert caught.value.code == "video_too_large"
    assert list(tmp_path.iterdir()) == []


def test_download_404_is_an_expired_video(fake: FakeServer, tmp_path: Path) -> None:
    with pytest.raises(UpstreamPermanentError) as caught:
        run(
            gemini(fake.url),
            lambda a: a.download(VideoRef(uri=f"{fake.url}/nope"), tmp_path / "v", max_bytes=10),
        )
    assert caught.value.code == "upstream_video_lost"


def test_a_submit_whose_connection_dropped_has_an_unknown_outcome(fake: FakeServer) -> None:
    """The request was sent: the upstream may have accepted it, so it is not transient."""
    fake.routes[SUBMIT_PATH] = Handler.drop
    with pytest.raises(UpstreamOutcomeUnknown, match="RemoteProtocolError"):
        run(gemini(fake.url), lambda a: a.submit(SubmitRequest("x", "16:9")))


def test_a_poll_whose_connection_dropped_is_transient(fake: FakeServer) -> None:
    fake.routes[f"/v1beta/models/{MODEL}/operations/dropped"] = Handler.drop
    with pytest.raises(UpstreamTransientError, match="RemoteProtocolError"):
        run(gemini(fake.url), lambda a: a.poll(f"models/{MODEL}/operations/dropped"))


def test_download_403_may_not_exist_is_an_expired_video(fake: FakeServer, tmp_path: Path) -> None:
    """The Files API answers an expired file with 403, not 404: the video is gone, our key is
    fine."""
    message = "You do not have permission to access the File x or it may not exist."
    fake.routes["/expired"] = lambda handler: handler.send_json(
        403, {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}}
    )
    with pytest.raises(UpstreamPermanentError) as caught:
        run(
            gemini(fake.url),
            lambda a: a.download(VideoRef(uri=f"{fake.url}/expired"), tmp_path / "v", max_bytes=10),
        )
    assert caught.value.code == "upstream_video_lost"
    assert not isinstance(caught.value, UpstreamConfigError)


def test_stalled_answer_times_out_as_transient(fake: FakeServer) -> None:
    def stall(handler: Handler) -> None:
        fake.release.wait(5)
        handler.send_json(200, {})

    fake.routes[f"/v1beta/models/{MODEL}/operations/slow"] = stall
    with pytest.raises(UpstreamTransientError, match="ReadTimeout"):
        run(gemini(fake.url, timeout_s=0.3), lambda a: a.poll(f"models/{MODEL}/operations/slow"))


def test_refused_connection_is_transient(tmp_path: Path) -> None:
    from devtools.processes import free_port

    adapter = gemini(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(UpstreamTransientError, match="ConnectError"):
        run(adapter, lambda a: a.poll(f"models/{MODEL}/operations/x"))
