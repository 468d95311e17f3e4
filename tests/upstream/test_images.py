"""prepare_image and resolve_aspect_ratio: real images built with Pillow, decoded back."""

import io
import os

import pytest
from PIL import Image

from shared.errors import UpstreamPermanentError
from worker.upstream.images import MAX_SIDE_PX, prepare_image, resolve_aspect_ratio

MB = 1024 * 1024


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def noise(width: int, height: int) -> Image.Image:
    """Random pixels: incompressible, so encoded sizes are predictable."""
    return Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_small_jpeg_and_png_pass_through_unchanged(fmt: str, mime: str) -> None:
    data = encode(Image.new("RGB", (320, 180), (200, 30, 30)), fmt)
    image, size = prepare_image(data, max_bytes=MB)
    assert image.data == data
    assert image.mime_type == mime
    assert size == (320, 180)


def test_exif_rotation_is_applied_and_reported_as_displayed() -> None:
    landscape = Image.new("RGB", (160, 90), (0, 120, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": stored landscape, shown portrait
    data = encode(landscape, "JPEG", exif=exif)

    image, size = prepare_image(data, max_bytes=MB)

    assert size == (90, 160)
    assert image.mime_type == "image/jpeg"
    assert image.data != data
    assert decode(image.data).size == (90, 160)
    assert resolve_aspect_ratio("auto", size) == "9:16"


def test_webp_becomes_png_and_keeps_transparency() -> None:
    source = Image.new("RGBA", (64, 48), (10, 200, 10, 128))
    image, size = prepare_image(encode(source, "WEBP", lossless=True), max_bytes=MB)
    assert image.mime_type == "image/png"
    decoded = decode(image.data)
    assert decoded.format == "PNG"
    assert decoded.mode == "RGBA"
    assert decoded.getpixel((5, 5)) == (10, 200, 10, 128)
    assert size == (64, 48)


def test_oversize_image_is_downscaled_to_a_jpeg_that_fits() -> None:
    data = encode(noise(800, 600), "PNG")  # ~1.4 MB of noise
    budget = 150_000
    assert len(data) > budget

    image, size = prepare_image(data, max_bytes=budget)

    assert image.mime_type == "image/jpeg"
    assert len(image.data) <= budget
    decoded = decode(image.data)
    assert decoded.format == "JPEG"
    assert decoded.width < 800
    assert abs(decoded.width / decoded.height - 800 / 600) < 0.02  # proportions kept
    assert size == (800, 600)  # the aspect decision uses the original


def test_image_that_cannot_fit_is_refused_as_the_users_fault() -> None:
    with pytest.raises(UpstreamPermanentError) as caught:
        prepare_image(encode(noise(400, 400), "PNG"), max_bytes=500)
    assert caught.value.code == "invalid_image"
    assert caught.value.refund is False


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"\xff\xd8\xff\xe0garbage"],
)
def test_garbage_is_invalid_image_without_refund(data: bytes) -> None:
    with pytest.raises(UpstreamPermanentError) as caught:
        prepare_image(data, max_bytes=MB)
    assert caught.value.code == "invalid_image"
    assert caught.value.refund is False


@pytest.mark.parametrize(
    ("requested", "size", "expected"),
    [
        ("auto", None, "16:9"),
        ("auto", (1920, 1080), "16:9"),
        ("auto", (1080, 1920), "9:16"),
        ("auto", (1000, 1000), "16:9"),
        ("9:16", (1920, 1080), "9:16"),
        ("16:9", (1080, 1920), "16:9"),
    ],
)
def test_resolve_aspect_ratio(requested: str, size: tuple[int, int] | None, expected: str) -> None:
    assert resolve_aspect_ratio(requested, size) == expected


@pytest.mark.parametrize(
    ("fmt", "width", "height"),
    [("JPEG", 4000, 3000), ("PNG", 2500, 1000), ("JPEG", 1200, 2600), ("WEBP", 3000, 1688)],
)
def test_a_large_image_is_scaled_to_1920_px_on_its_long_side(
    fmt: str, width: int, height: int
) -> None:
    """Veo uses no more than a 1080p frame: larger images only cost request bytes."""
    source = Image.new("RGB", (width, height), (30, 90, 160))
    image, size = prepare_image(encode(source, fmt), max_bytes=MB)
    decoded = decode(image.data)
    assert max(decoded.size) == MAX_SIDE_PX
    assert abs(decoded.width / decoded.height - width / height) < 0.01  # proportions kept
    assert size == (width, height)  # the aspect decision uses the original
    assert len(image.data) <= MB


def test_a_rotated_large_jpeg_is_scaled_and_reported_as_displayed() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.new("RGB", (4000, 2250), (0, 120, 255)), "JPEG", exif=exif)
    image, size = prepare_image(data, max_bytes=MB)
    assert size == (2250, 4000)
    assert decode(image.data).size == (1080, 1920)


def test_an_image_of_1920_px_passes_through() -> None:
    data = encode(Image.new("RGB", (1920, 1080), (1, 2, 3)), "PNG")
    assert prepare_image(data, max_bytes=MB)[0].data == data
