"""Uploads beyond tests/uploads: polyglots and lying names are stored and served only as the
image their bytes are, and many uploads at once (valid, bombs and junk) keep memory flat."""

import io
import os
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import httpx
import psutil
import pytest
from PIL import Image

from tests.conftest import AccountInfo
from tests.uploads.images import image_bytes, png_declaring

URL = "/api/upload-video-image"
MIB = 1024 * 1024


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("evil.html", "<script>alert(document.cookie)</script>")
    return buffer.getvalue()


HTML = b"<html><body><script>alert(document.domain)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'

# (name, bytes, filename, declared type) -> the type the bytes decide, or None for refused
POLYGLOTS = [
    ("jpeg+zip", image_bytes("JPEG") + zip_bytes(), "photo.zip", "application/zip", "image/jpeg"),
    ("png+html", image_bytes("PNG") + HTML, "page.html", "text/html", "image/png"),
    ("webp+svg", image_bytes("WEBP") + SVG, "x.svg", "image/svg+xml", "image/webp"),
    ("png named .php", image_bytes("PNG") + b"<?php system($_GET['c']); ?>", "s.php", "image/png",
     "image/png"),
    ("html with png magic", b"\x89PNG\r\n\x1a\n" + HTML, "a.png", "image/png", None),
    ("zip with jpeg name", zip_bytes(), "a.jpg", "image/jpeg", None),
    ("svg", SVG, "a.png", "image/png", None),
    ("html", HTML, "a.png", "image/png", None),
    ("path traversal name", image_bytes("PNG"), "../../../../etc/passwd.png", "image/png",
     "image/png"),
    ("nul in filename", image_bytes("JPEG"), "a.jpg\x00.html", "image/jpeg", "image/jpeg"),
]  # fmt: skip


@pytest.fixture
def user(account: Callable[..., AccountInfo]) -> AccountInfo:
    return account(credits=10)


@pytest.mark.parametrize(
    ("data", "filename", "declared", "decided"),
    [p[1:] for p in POLYGLOTS],
    ids=[p[0] for p in POLYGLOTS],
)
def test_polyglots_are_stored_and_served_as_the_image_their_bytes_are(
    client: httpx.Client,
    user: AccountInfo,
    data: bytes,
    filename: str,
    declared: str,
    decided: str | None,
) -> None:
    response = client.post(URL, headers=user.headers, files={"file": (filename, data, declared)})
    body = response.json()
    if decided is None:
        assert (response.status_code, body["code"], body["data"]["field"]) == (400, 1000, "file")
        return
    assert body["code"] == 0, body
    image_url = body["data"]["imageUrl"]
    stored_path = httpx.URL(image_url).path  # the URL's query is its signature
    extension = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}[decided]
    assert stored_path.endswith(extension)
    assert "passwd" not in stored_path
    assert ".." not in stored_path
    assert filename.rsplit(".", 1)[-1] not in stored_path.rsplit("/", 1)[-1].replace(extension, "")
    served = httpx.get(image_url)
    assert served.content == data  # stored unchanged (DESIGN: the user's bytes)
    assert served.headers["content-type"] == decided
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    assert "default-src 'none'" in served.headers["content-security-policy"]


def _gateway_process(gateway_url: str) -> psutil.Process:
    port = int(gateway_url.rsplit(":", 1)[1])
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            assert conn.pid is not None
            return psutil.Process(conn.pid)
    raise AssertionError("gateway process not found")


def big_photo() -> bytes:
    """A 4000x3000 JPEG of noise (~6 MB): a real full decode of 36 MB per upload."""
    image = Image.frombytes("RGB", (4000, 3000), os.urandom(4000 * 3000 * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _parallel_peak_growth_mib(
    gateway_url: str, api_key: str, payloads: list[bytes]
) -> tuple[float, list[int]]:
    """Send every payload at once; the gateway's peak RSS growth meanwhile, and the codes."""
    process = _gateway_process(gateway_url)

    def send(data: bytes) -> int:
        with httpx.Client(base_url=gateway_url, timeout=120) as http:
            answer = http.post(
                URL,
                headers={"Authorization": f"Bearer {api_key}"},
                files={"file": ("a.jpg", data, "image/jpeg")},
            )
            return int(answer.json()["code"])

    baseline = peak = process.memory_info().rss
    with ThreadPoolExecutor(len(payloads)) as pool:
        futures = [pool.submit(send, data) for data in payloads]
        while wait(futures, timeout=0.05).not_done:
            peak = max(peak, process.memory_info().rss)
        codes = [f.result() for f in futures]
    return (peak - baseline) / MIB, codes


@pytest.mark.timeout(180)
def test_many_parallel_uploads_keep_the_gateways_memory_flat(
    client: httpx.Client, gateway_url: str, account: Callable[..., AccountInfo]
) -> None:
    """48 uploads at once: 24 big real photos (a 48 MB full decode each) and 24 junk files.

    Bodies stream to disk and decodes are limited per process (uploads.DECODE_CONCURRENCY), so
    the peak stays near that of a couple of decodes, not 24 of them (~1.1 GB).
    """
    heavy = account(credits=10, rate_limit=10_000)
    payloads = [big_photo()] * 24 + [os.urandom(4 * MIB)] * 24
    grown, codes = _parallel_peak_growth_mib(gateway_url, heavy.api_key, payloads)
    assert codes.count(0) == 24, codes
    assert codes.count(1000) == 24, codes
    assert grown < 250, f"gateway RSS grew by {grown:.0f} MiB during 48 parallel uploads"
    assert client.get("/api/health").status_code == 200


@pytest.mark.timeout(180)
def test_parallel_decompression_bombs_keep_the_gateways_memory_flat(
    gateway_url: str, account: Callable[..., AccountInfo]
) -> None:
    """24 truncated PNGs declaring 36 MP (under the limit) at once: each decode allocates 144 MB.

    Regression: glibc's dynamic mmap threshold once put those buffers in per-thread arenas,
    where calloc touched every page (+0.7-1.2 GB); tuning.pin_mmap_threshold keeps them mmaps.
    """
    heavy = account(credits=10, rate_limit=10_000)
    grown, codes = _parallel_peak_growth_mib(
        gateway_url, heavy.api_key, [png_declaring(6000, 6000)] * 24
    )
    assert codes == [1000] * 24, codes
    assert grown < 400, f"gateway RSS grew by {grown:.0f} MiB during 24 parallel bomb uploads"
