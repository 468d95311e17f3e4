"""S3Storage against moto's S3-compatible HTTP server (a real server process, no mocks)."""

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from devtools.processes import VENV_BIN, Proc, free_port, http_ok
from shared.settings import Settings
from shared.storage.s3 import S3Storage


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_dir = tmp_path_factory.mktemp("moto")
    argv = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    proc = Proc("moto", argv, {"PATH": str(VENV_BIN)}, log_dir).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: http_ok(f"{url}/moto-api/"), timeout_s=30)
    yield url
    proc.stop()


@pytest.fixture
def storage(s3_endpoint: str) -> S3Storage:
    """A fresh bucket name per test: the first write must create it."""
    settings = Settings(
        storage_backend="s3",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=f"veo-test-{secrets.token_hex(4)}",
        s3_region="eu-west-1",
        s3_access_key_id="test",
        s3_secret_access_key=SecretStr("test"),
        s3_url_expiry_s=600,
    )
    return S3Storage(settings)


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    path = tmp_path / "video.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + secrets.token_bytes(200_000))
    return path


def test_put_then_read_open_and_presigned_url(storage: S3Storage, video_file: Path) -> None:
    expected = video_file.read_bytes()
    storage.put_file("videos/job-1.mp4", video_file, "video/mp4")

    assert storage.read_bytes("videos/job-1.mp4", max_bytes=len(expected)) == expected
    with storage.open("videos/job-1.mp4") as stream:
        assert stream.read(12) == expected[:12]
        assert stream.read() == expected[12:]

    url = storage.url("videos/job-1.mp4")
    assert "X-Amz-Signature=" in url
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == expected
    assert response.headers["content-type"] == "video/mp4"


def test_bucket_creation_is_idempotent(
    storage: S3Storage, video_file: Path, s3_endpoint: str
) -> None:
    storage.put_file("a.mp4", video_file, "video/mp4")
    other = S3Storage(
        Settings(
            storage_backend="s3",
            s3_endpoint_url=s3_endpoint,
            s3_bucket=storage.bucket,
            s3_region="eu-west-1",
            s3_access_key_id="test",
            s3_secret_access_key=SecretStr("test"),
        )
    )
    other.put_file("b.mp4", video_file, "video/mp4")  # bucket exists already: no error
    assert other.read_bytes("a.mp4", max_bytes=10**6) == video_file.read_bytes()


def test_read_bytes_enforces_max_bytes(storage: S3Storage, video_file: Path) -> None:
    storage.put_file("big.mp4", video_file, "video/mp4")
    with pytest.raises(ValueError, match="larger than"):
        storage.read_bytes("big.mp4", max_bytes=1000)


def test_missing_objects_are_file_not_found(storage: S3Storage, video_file: Path) -> None:
    with pytest.raises(FileNotFoundError):  # the bucket does not even exist yet
        storage.read_bytes("nothing.mp4", max_bytes=10)
    storage.put_file("something.mp4", video_file, "video/mp4")
    with pytest.raises(FileNotFoundError):
        storage.read_bytes("nothing.mp4", max_bytes=10)
    with pytest.raises(FileNotFoundError):
        storage.open("nothing.mp4")


def test_delete_removes_the_object_and_may_be_repeated(
    storage: S3Storage, video_file: Path
) -> None:
    storage.delete("never-written.mp4")  # the bucket does not even exist yet
    storage.put_file("videos/gone.mp4", video_file, "video/mp4")
    storage.delete("videos/gone.mp4")
    with pytest.raises(FileNotFoundError):
        storage.read_bytes("videos/gone.mp4", max_bytes=10**6)
    storage.delete("videos/gone.mp4")
