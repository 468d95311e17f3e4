"""Bodies and parameters no schema generator thinks of: NUL bytes, lone surrogates, absurd
nesting and size, wrong types and encodings. Each answers 1000 (or 0), never a 5xx, and the
gateway stays healthy."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import AccountInfo

VIDEO = {"generationType": "text_to_video", "aspectRatio": "16:9"}


def assert_not_5xx(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert response.status_code < 500, (response.status_code, body)
    assert set(body) == {"code", "msg", "data"}, body
    assert body["code"] in {0, 1000, 1001, 1002, 1003}, body
    return dict(body)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("nul in prompt", b'{"generationType":"text_to_video","prompt":"a\\u0000b"}'),
        ("nul in webhookUrl", b'{"generationType":"text_to_video","prompt":"a",'
         b'"webhookUrl":"http://example.com/\\u0000x"}'),
        ("nul in imageKey", b'{"generationType":"image_to_video","prompt":"a",'
         b'"imageKey":"img_\\u0000"}'),
        ("nul in imageUrl", b'{"generationType":"image_to_video","prompt":"a",'
         b'"imageUrl":"http://example.com/a\\u0000.png"}'),
        ("lone surrogate in prompt", b'{"generationType":"text_to_video","prompt":"a\\ud800b"}'),
        ("lone surrogate in imageKey", b'{"generationType":"image_to_video","prompt":"a",'
         b'"imageKey":"\\udfff"}'),
        ("invalid utf-8", b'{"generationType":"text_to_video","prompt":"\xff\xfe"}'),
        ("deep nesting", b'{"generationType":"text_to_video","prompt":'
         + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("prompt is a number", b'{"generationType":"text_to_video","prompt":12345}'),
        ("prompt is null", b'{"generationType":"text_to_video","prompt":null}'),
        ("body is a list", b"[1,2,3]"),
        ("body is a string", b'"text_to_video"'),
        ("duplicate keys", b'{"generationType":"text_to_video","prompt":"a","prompt":"b"}'),
        ("huge number", b'{"generationType":"text_to_video","prompt":"a","aspectRatio":1e999999}'),
        ("long integer", b'{"generationType":"text_to_video","prompt":' + b"9" * 5000 + b"}"),
        ("webhookEvents duplicates", b'{"generationType":"text_to_video","prompt":"a",'
         b'"webhookEvents":["video.processing","video.processing","video.processing","video.processing"]}'),
        ("empty body", b""),
        ("bom", b'\xef\xbb\xbf{"generationType":"text_to_video","prompt":"a"}'),
    ],
)  # fmt: skip
def test_hostile_generate_bodies_never_5xx(
    client: httpx.Client, account: Callable[..., AccountInfo], name: str, raw: bytes
) -> None:
    user = account(credits=10)
    headers = {**user.headers, "Content-Type": "application/json"}
    assert_not_5xx(client.post("/api/generate-video", content=raw, headers=headers))
    assert client.get("/api/health").status_code == 200


def test_nul_and_surrogates_in_paths_queries_and_headers(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    user = account(credits=10)
    for path in [
        "/api/video-status/%00",
        "/api/video-status/a%00b",
        "/api/video-status/%ED%A0%80",  # an encoded lone surrogate
        "/api/video-status/%FF",
        "/api/video-status/" + "x" * 8000,
        "/api/webhooks/deliveries?uuid=%00",
        "/api/webhooks/deliveries?uuid=%ED%A0%80",
        "/api/webhooks/deliveries?limit=%00",
        "/api/webhooks/deliveries?limit=99999999999999999999999",
        "/api/webhooks/deliveries?limit=-1",
        "/api/webhooks/deliveries/%00/replay",
        "/api/files/%00",
        "/api/files/videos/%ED%A0%80.mp4",
        "/api/videos?cursor=%00",
        "/api/videos?cursor=%ED%A0%80",
        "/api/videos?createdAfter=%00",
        "/api/videos?status=%00",
        "/api/videos/%00/cancel",
        "/api/videos/%ED%A0%80/cancel",
        "/api/account/ledger?cursor=%00",
    ]:
        method = "POST" if path.endswith(("/replay", "/cancel")) else "GET"
        response = client.request(method, path, headers=user.headers)
        assert response.status_code < 500, (path, response.status_code, response.text[:300])
        assert_not_5xx(response)
    for key in [b"\xff\xfe", b"caf\xe9", "x" * 256]:  # obs-text is legal in headers
        answer = client.post(
            "/api/generate-video",
            json={**VIDEO, "prompt": "idempotency probe"},
            headers={**user.headers, "Idempotency-Key": key},  # type: ignore[dict-item]
        )
        assert_not_5xx(answer)


def test_an_oversized_json_body_is_refused_without_being_buffered(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    """A 64 MiB JSON body on an endpoint that takes a few hundred bytes: refused, 1000."""
    user = account(credits=10)
    filler = b"x" * (64 * 1024 * 1024)

    def body() -> Any:
        yield b'{"generationType":"text_to_video","prompt":"'
        for start in range(0, len(filler), 1024 * 1024):
            yield filler[start : start + 1024 * 1024]
        yield b'"}'

    response = client.post(
        "/api/generate-video",
        content=body(),
        headers={**user.headers, "Content-Type": "application/json"},
    )
    answer = assert_not_5xx(response)
    assert answer["code"] == 1000
    assert response.status_code == 413
