"""POST /api/upload-video-image over real HTTP against a real gateway process."""

import hashlib
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import AccountInfo
from tests.uploads.images import image_bytes, png_declaring

MIB = 1024 * 1024
LIMIT = 50 * MIB
URL = "/api/upload-video-image"


@pytest.fixture
def user(account: Callable[..., AccountInfo]) -> AccountInfo:
    return account(credits=10)


def upload(
    client: httpx.Client,
    user: AccountInfo,
    data: bytes,
    name: str = "a.png",
    ctype: str = "image/png",
) -> httpx.Response:
    return client.post(URL, headers=user.headers, files={"file": (name, data, ctype)})


def assert_refused(response: httpx.Response, status: int = 400, reason: str = "") -> dict[str, Any]:
    body = response.json()
    assert response.status_code == status, body
    assert body["code"] == 1000
    assert body["data"]["field"] == "file"
    assert "'file'" in body["msg"]
    assert reason in body["data"]["reason"]
    return body


@pytest.mark.parametrize(
    ("fmt", "ext", "mime"),
    [("JPEG", "jpg", "image/jpeg"), ("PNG", "png", "image/png"), ("WEBP", "webp", "image/webp")],
)
def test_each_format_accepted_and_downloadable(
    client: httpx.Client, user: AccountInfo, fmt: str, ext: str, mime: str
) -> None:
    data = image_bytes(fmt)
    response = upload(client, user, data, name=f"photo.{ext}", ctype=mime)
    body = response.json()
    assert response.status_code == 200, body
    assert body["code"] == 0
    assert body["msg"] == "Upload successful"
    assert set(body["data"]) == {"imageUrl", "imageKey"}
    assert body["data"]["imageKey"].startswith("img_")
    assert httpx.URL(body["data"]["imageUrl"]).path.endswith(f".{ext}")
    assert f"/uploads/{user.account_id}/" in body["data"]["imageUrl"]
    download = httpx.get(body["data"]["imageUrl"])
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-type"] == mime
    assert download.headers["x-content-type-options"] == "nosniff"


def test_bytes_decide_not_name_or_content_type(client: httpx.Client, user: AccountInfo) -> None:
    """A PNG named .jpg and sent as image/jpeg is stored and served as a PNG."""
    response = upload(client, user, image_bytes("PNG"), name="photo.jpg", ctype="image/jpeg")
    assert response.status_code == 200, response.text
    url = response.json()["data"]["imageUrl"]
    assert httpx.URL(url).path.endswith(".png")
    assert httpx.get(url).headers["content-type"] == "image/png"


def test_wrong_magic_with_image_extension_refused(client: httpx.Client, user: AccountInfo) -> None:
    response = upload(client, user, b"<html><script>alert(1)</script></html>", name="x.png")
    assert_refused(response, reason="not a JPEG, PNG or WebP")


def test_gif_refused(client: httpx.Client, user: AccountInfo) -> None:
    assert_refused(
        upload(client, user, image_bytes("GIF"), name="x.gif", ctype="image/gif"),
        reason="not a JPEG, PNG or WebP",
    )


def test_truncated_refused(client: httpx.Client, user: AccountInfo) -> None:
    data = image_bytes("JPEG", (512, 512))
    assert_refused(upload(client, user, data[: len(data) // 2], name="x.jpg"), reason="truncated")


def test_decompression_bomb_refused(client: httpx.Client, user: AccountInfo) -> None:
    assert_refused(upload(client, user, png_declaring(20000, 20000)), reason="pixels")


def test_empty_file_refused(client: httpx.Client, user: AccountInfo) -> None:
    assert_refused(upload(client, user, b""), reason="empty")


def test_missing_field_refused(client: httpx.Client, user: AccountInfo) -> None:
    response = client.post(
        URL, headers=user.headers, files={"image": ("a.png", image_bytes("PNG"), "image/png")}
    )
    assert_refused(response, reason="missing")


def test_two_files_refused(client: httpx.Client, user: AccountInfo) -> None:
    png = image_bytes("PNG")
    files = [("file", ("a.png", png, "image/png")), ("file", ("b.png", png, "image/png"))]
    assert_refused(client.post(URL, headers=user.headers, files=files), reason="exactly one")


def test_not_multipart_refused(client: httpx.Client, user: AccountInfo) -> None:
    response = client.post(
        URL, headers={**user.headers, "Content-Type": "image/png"}, content=image_bytes("PNG")
    )
    assert_refused(response, reason="multipart/form-data")
    response = client.post(URL, headers=user.headers, json={"file": "aGVsbG8="})
    assert_refused(response, reason="multipart/form-data")


def test_malformed_multipart_refused(client: httpx.Client, user: AccountInfo) -> None:
    headers = {**user.headers, "Content-Type": "multipart/form-data; boundary=xyz"}
    response = client.post(
        URL,
        headers=headers,
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
    )
    assert_refused(response, reason="ended early")


def test_overlong_boundary_refused(client: httpx.Client, user: AccountInfo) -> None:
    headers = {**user.headers, "Content-Type": f"multipart/form-data; boundary={'b' * 300}"}
    assert_refused(client.post(URL, headers=headers, content=b"--x"), reason="malformed")


def test_no_auth_refused_with_1002(client: httpx.Client) -> None:
    response = client.post(URL, files={"file": ("a.png", image_bytes("PNG"), "image/png")})
    assert response.status_code == 401
    assert response.json()["code"] == 1002


def _multipart_stream(
    boundary: str, head: bytes, total_file_bytes: int, digest: "hashlib._Hash"
) -> Iterator[bytes]:
    """The body of a multipart upload whose file is `head` padded with zeros to the size."""
    yield (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    yield head
    digest.update(head)
    left = total_file_bytes - len(head)
    zeros = bytes(MIB)
    while left > 0:
        chunk = zeros[: min(left, MIB)]
        digest.update(chunk)
        left -= len(chunk)
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def _post_streamed(
    client: httpx.Client, user: AccountInfo, size: int, *, declare_length: bool
) -> tuple[httpx.Response, str]:
    boundary = uuid.uuid4().hex
    head = image_bytes("PNG")
    digest = hashlib.sha256()
    headers = {**user.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    if declare_length:
        overhead = sum(
            len(part) for part in _multipart_stream(boundary, head, len(head), hashlib.sha256())
        )
        headers["Content-Length"] = str(overhead - len(head) + size)
    response = client.post(
        URL, headers=headers, content=_multipart_stream(boundary, head, size, digest)
    )
    return response, digest.hexdigest()


def _gateway_process(gateway_url: str) -> psutil.Process | None:
    port = int(gateway_url.rsplit(":", 1)[1])
    for conn in psutil.net_connections(kind="tcp"):
        if (
            conn.status == psutil.CONN_LISTEN
            and conn.laddr
            and conn.laddr.port == port
            and conn.pid
        ):
            return psutil.Process(conn.pid)
    return None


def test_exactly_50_mib_accepted(client: httpx.Client, user: AccountInfo) -> None:
    """Exactly the limit is accepted (a PNG followed by padding: trailing data is allowed)."""
    response, sha = _post_streamed(client, user, LIMIT, declare_length=False)
    assert response.status_code == 200, response.text
    stored = httpx.get(response.json()["data"]["imageUrl"])
    assert len(stored.content) == LIMIT
    assert hashlib.sha256(stored.content).hexdigest() == sha


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
def test_one_byte_over_refused_without_buffering(
    client: httpx.Client, user: AccountInfo, gateway_url: str, declare_length: bool
) -> None:
    process = _gateway_process(gateway_url)
    rss_before = process.memory_info().rss if process else 0
    response, _ = _post_streamed(client, user, LIMIT + 1, declare_length=declare_length)
    body = assert_refused(response, status=413, reason="larger than the 50 MB limit")
    assert body["data"]["maxBytes"] == LIMIT
    if process is not None:
        grown = process.memory_info().rss - rss_before
        assert grown < 20 * MIB, f"gateway RSS grew by {grown / MIB:.1f} MiB"


def test_temp_files_cleaned_up(client: httpx.Client, user: AccountInfo) -> None:
    import tempfile

    before = {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("veo-upload-")}
    upload(client, user, b"not an image")
    upload(client, user, image_bytes("PNG"))
    after = {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("veo-upload-")}
    assert after <= before


def test_declared_oversize_refused_before_the_body_is_read(
    gateway_url: str, user: AccountInfo
) -> None:
    """Content-Length of 10 GB and no body at all: the answer comes without waiting for it."""
    port = int(gateway_url.rsplit(":", 1)[1])
    request = (
        f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {user.api_key}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request.encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    assert b" 413 " in status_line
    body = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert body["code"] == 1000
    assert body["data"]["maxBytes"] == LIMIT


def test_parallel_uploads_stream_to_disk(
    client: httpx.Client, user: AccountInfo, gateway_url: str
) -> None:
    """Eight 8 MiB uploads at once: all stored, and the gateway's memory barely moves."""
    process = _gateway_process(gateway_url)
    rss_before = process.memory_info().rss if process else 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(
                lambda _: _post_streamed(client, user, 8 * MIB, declare_length=False), range(8)
            )
        )
    assert all(response.status_code == 200 for response, _ in results), [r.text for r, _ in results]
    assert len({response.json()["data"]["imageKey"] for response, _ in results}) == 8
    if process is not None:
        grown = process.memory_info().rss - rss_before
        assert grown < 32 * MIB, f"gateway RSS grew by {grown / MIB:.1f} MiB for 64 MiB uploaded"


def test_documented_as_multipart(client: httpx.Client) -> None:
    operation = client.get("/openapi.json").json()["paths"][URL]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"]
