"""GET /api/files/{key}: local storage served with types, Range, caching, and no way out of it."""

import secrets
from pathlib import Path

import httpx
import pytest

from tests.conftest import Stack

VIDEO = bytes(range(256)) * 400  # 102,400 bytes standing in for an MP4


@pytest.fixture
def stored_video(stack: Stack) -> str:
    key = f"videos/{secrets.token_hex(8)}.mp4"
    path = Path(stack.env["VEO_DATA_DIR"]) / "storage" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(VIDEO)
    return key


def test_serves_video_with_type_and_cache_headers(client: httpx.Client, stored_video: str) -> None:
    response = client.get(f"/api/files/{stored_video}")
    assert response.status_code == 200
    assert response.content == VIDEO
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["accept-ranges"] == "bytes"


def test_range_request_answers_206(client: httpx.Client, stored_video: str) -> None:
    response = client.get(f"/api/files/{stored_video}", headers={"Range": "bytes=0-99"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 0-99/{len(VIDEO)}"
    assert response.content == VIDEO[:100]
    tail = client.get(f"/api/files/{stored_video}", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206
    assert tail.content == VIDEO[-10:]


@pytest.mark.parametrize(
    "range_header",
    [
        "items=0-99",  # a unit this server does not know: RFC 9110 says ignore it
        "bytes=abc",  # no usable range
        "bytes=50-10",  # last before first: an invalid range-spec
        "0-99",  # no unit at all
    ],
)
def test_a_range_the_server_cannot_use_is_ignored(
    client: httpx.Client, stored_video: str, range_header: str
) -> None:
    """A Range header that names no usable byte range answers the whole file, never a refusal."""
    response = client.get(f"/api/files/{stored_video}", headers={"Range": range_header})
    assert response.status_code == 200
    assert response.content == VIDEO


def test_a_range_past_the_end_is_416_in_the_envelope(
    client: httpx.Client, stored_video: str
) -> None:
    """A byte range starting past the end is the 1000 envelope with HTTP 416 and the size."""
    for method in ("GET", "HEAD"):
        response = client.request(
            method, f"/api/files/{stored_video}", headers={"Range": f"bytes={len(VIDEO)}-"}
        )
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{len(VIDEO)}"
        assert response.headers["content-type"] == "application/json"
    body = client.get(f"/api/files/{stored_video}", headers={"Range": "bytes=999999-"}).json()
    assert body["code"] == 1000
    assert body["data"]["field"] == "Range"


def test_head_has_no_body(client: httpx.Client, stored_video: str) -> None:
    response = client.head(f"/api/files/{stored_video}")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(VIDEO))
    assert response.content == b""


def test_no_auth_needed_but_unknown_key_is_404(client: httpx.Client) -> None:
    response = client.get("/api/files/videos/does-not-exist.mp4")
    assert response.status_code == 404
    assert response.json()["code"] == 1000


@pytest.mark.parametrize(
    "raw_path",
    [
        "/api/files/..%2f..%2f..%2fetc%2fpasswd",
        "/api/files/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/api/files/..%2foutside.txt",
        "/api/files/videos/..%2f..%2foutside.txt",
        "/api/files/%2e%2e/outside.txt",
        "/api/files/%2fetc%2fpasswd",
        "/api/files/videos",  # a directory
        "/api/files/videos/.incoming-x",  # an in-progress write
        "/api/files/videos/a%00b.mp4",  # NUL byte
        "/api/files/" + "a" * 5000 + ".mp4",  # longer than the OS allows
    ],
)
def test_keys_leaving_storage_refused(gateway_url: str, stack: Stack, raw_path: str) -> None:
    """Sent byte for byte (no client-side dot-segment cleanup); a real file waits outside."""
    (Path(stack.env["VEO_DATA_DIR"]) / "outside.txt").write_text("secret")
    with httpx.Client() as http:
        request = http.build_request("GET", gateway_url)
        request.url = request.url.copy_with(raw_path=raw_path.encode())
        response = http.send(request)
    assert response.status_code == 404
    assert response.json()["code"] == 1000
