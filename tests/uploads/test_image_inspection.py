"""inspect_image decides by bytes: magic number, Pillow's agreement, header size, full decode."""

from pathlib import Path

import pytest

from api_gateway.uploads import MAX_SIDE_PX, inspect_image, sniff_format
from shared.errors import InvalidParameters
from tests.uploads.images import image_bytes, png_declaring

MAX_PIXELS = 40_000_000


def inspect(tmp_path: Path, data: bytes, name: str = "upload.bin") -> object:
    path = tmp_path / name
    path.write_bytes(data)
    return inspect_image(path, MAX_PIXELS)


def refused(tmp_path: Path, data: bytes) -> str:
    with pytest.raises(InvalidParameters) as caught:
        inspect(tmp_path, data)
    assert caught.value.code == 1000
    assert caught.value.http_status == 400
    assert caught.value.data["field"] == "file"
    return str(caught.value.data["reason"])


@pytest.mark.parametrize(
    ("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_accepted_formats(tmp_path: Path, fmt: str, mime: str) -> None:
    info = inspect(tmp_path, image_bytes(fmt, (64, 48)))
    assert (info.format, info.mime_type, info.width, info.height) == (fmt, mime, 64, 48)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"\xff\xd8\xff\xe0rest", "JPEG"),
        (b"\x89PNG\r\n\x1a\nrest", "PNG"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WEBP"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", None),
        (b"GIF89a", None),
        (b"<html><script>", None),
        (b"", None),
    ],
)
def test_sniff(head: bytes, fmt: str | None) -> None:
    assert sniff_format(head) == fmt


def test_gif_refused(tmp_path: Path) -> None:
    assert "not a JPEG, PNG or WebP" in refused(tmp_path, image_bytes("GIF"))


def test_magic_only_refused(tmp_path: Path) -> None:
    """Right magic number, then garbage: Pillow must agree, and it does not."""
    assert "not a JPEG, PNG or WebP" in refused(tmp_path, b"\x89PNG\r\n\x1a\n" + b"garbage" * 100)


def test_truncated_refused(tmp_path: Path) -> None:
    data = image_bytes("PNG", (256, 256), "RGB")
    assert "truncated or corrupt" in refused(tmp_path, data[: len(data) // 2])
    jpeg = image_bytes("JPEG", (256, 256))
    assert "truncated or corrupt" in refused(tmp_path, jpeg[: len(jpeg) // 2])


def test_decompression_bomb_refused_before_decoding(tmp_path: Path) -> None:
    assert "more than 40000000 pixels" in refused(tmp_path, png_declaring(20000, 20000))


def test_too_many_pixels_refused(tmp_path: Path) -> None:
    assert "more than 40000000 pixels" in refused(tmp_path, png_declaring(8000, 6000))


def test_absurd_side_refused(tmp_path: Path) -> None:
    assert f"1 to {MAX_SIDE_PX}" in refused(tmp_path, png_declaring(40_000_000, 1))


def test_trailing_data_accepted(tmp_path: Path) -> None:
    """Polyglot policy: the decodable image is accepted; bytes after its end are kept as sent."""
    info = inspect(tmp_path, image_bytes("PNG") + b"PK\x03\x04<html><script>alert(1)</script>")
    assert info.format == "PNG"  # type: ignore[attr-defined]
