"""GET /api/files/{key}: local storage served by signed, expiring URLs, with types, Range,
private caching, and no way out of it."""

import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from tests.conftest import AccountInfo, Stack
from tests.support.api import signed_file_path, upload_image

VIDEO = bytes(range(256)) * 400  # 102,400 bytes standing in for an MP4


@pytest.fixture
def stored_video(stack: Stack) -> str:
    key = f"videos/{secrets.token_hex(8)}.mp4"
    path = Path(stack.env["VEO_DATA_DIR"]) / "storage" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(VIDEO)
    return key


def test_serves_video_with_type_and_cache_headers(client: httpx.Client, stored_video: str) -> None:
    response = client.get(signed_file_path(stored_video))
    assert response.status_code == 200
    assert response.content == VIDEO
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"].startswith("private, max-age=")
    assert response.headers["accept-ranges"] == "bytes"


def test_range_request_answers_206(client: httpx.Client, stored_video: str) -> None:
    response = client.get(signed_file_path(stored_video), headers={"Range": "bytes=0-99"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 0-99/{len(VIDEO)}"
    assert response.content == VIDEO[:100]
    tail = client.get(signed_file_path(stored_video), headers={"Range": "bytes=-10"})
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
    response = client.get(signed_file_path(stored_video), headers={"Range": range_header})
    assert response.status_code == 200
    assert response.content == VIDEO


def test_a_range_past_the_end_is_416_in_the_envelope(
    client: httpx.Client, stored_video: str
) -> None:
    """A byte range starting past the end is the 1000 envelope with HTTP 416 and the size."""
    for method in ("GET", "HEAD"):
        response = client.request(
            method, signed_file_path(stored_video), headers={"Range": f"bytes={len(VIDEO)}-"}
        )
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{len(VIDEO)}"
        assert response.headers["content-type"] == "application/json"
    body = client.get(signed_file_path(stored_video), headers={"Range": "bytes=999999-"}).json()
    assert body["code"] == 1000
    assert body["data"]["field"] == "Range"


def test_head_has_no_body(client: httpx.Client, stored_video: str) -> None:
    response = client.head(signed_file_path(stored_video))
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(VIDEO))
    assert response.content == b""


def test_no_api_key_needed_but_unknown_key_is_404(client: httpx.Client) -> None:
    response = client.get(signed_file_path("videos/does-not-exist.mp4"))
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
    key = unquote(raw_path.removeprefix("/api/files/"))
    query = signed_file_path(key).partition("?")[2]  # even a validly signed URL
    with httpx.Client() as http:
        request = http.build_request("GET", gateway_url)
        request.url = request.url.copy_with(raw_path=f"{raw_path}?{query}".encode())
        response = http.send(request)
    assert response.status_code == 404
    assert response.json()["code"] == 1000


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_an_unsigned_altered_or_expired_url_is_refused_with_1002(
    client: httpx.Client, stored_video: str, method: str
) -> None:
    signed = signed_file_path(stored_video)
    path, _, query = signed.partition("?")
    expires, signature = (part.split("=", 1)[1] for part in query.split("&"))
    other = f"videos/{secrets.token_hex(8)}.mp4"
    refused = {
        "unsigned": path,
        "no signature": f"{path}?expires={expires}",
        "altered signature": f"{path}?expires={expires}&signature={'0' * 64}",
        "later expiry": f"{path}?expires={int(expires) + 3600}&signature={signature}",
        "another file": f"/api/files/{other}?{query}",
        "expired": signed_file_path(stored_video, now=0),
    }
    for why, url in refused.items():
        response = client.request(method, url)
        assert response.status_code == 403, (why, response.status_code)
        if method == "GET":
            body = response.json()
            assert body["code"] == 1002, (why, body)
            assert ("expired" in body["msg"]) == (why == "expired"), (why, body)
    assert client.request(method, signed).status_code == 200


def test_the_signing_key_kept_in_storage_is_never_served(
    client: httpx.Client, stack: Stack
) -> None:
    key_file = Path(stack.env["VEO_DATA_DIR"]) / "storage" / ".url-signing-key"
    client.get(signed_file_path("videos/x.mp4"))  # the key exists by now
    assert key_file.is_file()
    assert key_file.stat().st_mode & 0o777 == 0o600
    response = client.get(signed_file_path(".url-signing-key"))
    assert (response.status_code, response.json()["code"]) == (404, 1000)


def test_uploads_hand_out_signed_urls_that_work(
    client: httpx.Client, account: Callable[..., AccountInfo]
) -> None:
    user = account(credits=1)
    uploaded = upload_image(client, user.headers)
    url = httpx.URL(uploaded["imageUrl"])
    assert url.path.startswith("/api/files/uploads/")
    assert set(url.params) == {"expires", "signature"}
    assert client.get(url.raw_path.decode()).status_code == 200
    assert client.get(url.path).status_code == 403
