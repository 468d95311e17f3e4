"""Turning a user's image into one Veo accepts: pure functions, no I/O.

Veo takes JPEG or PNG inline as base64 (WebP is unconfirmed), only 16:9 or 9:16, and a request
body of bounded size. Uploads may be WebP, carry an EXIF rotation that Veo would ignore, or weigh
50 MB, so the submit task passes every image through `prepare_image` first. Veo renders at
most 1080p (4k is upscaled), so an image larger than MAX_SIDE_PX on its long side only costs
request bytes: it is scaled down before it is sent.
"""

import io

from PIL import Image, ImageOps, UnidentifiedImageError

from shared.errors import UpstreamPermanentError
from worker.upstream.base import ImageInput

PASS_THROUGH = {"JPEG": "image/jpeg", "PNG": "image/png"}
JPEG_QUALITY = 90
MIN_SIDE_PX = 64  # below this a frame is useless as a first frame; give up instead
MAX_SIDE_PX = 1920  # the long side of a 1080p frame: what Veo uses of a larger image
SHRINK_MARGIN = 0.9  # aim a little under the budget so most images fit in one re-encode
_EXIF_ORIENTATION = 0x0112


def invalid_image(reason: str) -> UpstreamPermanentError:
    """The user's input is unusable: their fault, so no refund."""
    return UpstreamPermanentError(
        f"The image cannot be used: {reason}", code="invalid_image", refund=False
    )


def prepare_image(data: bytes, *, max_bytes: int) -> tuple[ImageInput, tuple[int, int]]:
    """The image as JPEG or PNG within `max_bytes` and MAX_SIDE_PX, and its (width, height) as
    displayed (before scaling: only its orientation and proportions matter to the caller).

    JPEG and PNG without a rotation, within both bounds, pass through byte for byte; anything
    else is re-encoded (WebP and other formats as PNG, keeping transparency), scaled down to
    MAX_SIDE_PX on its long side; whatever is still too big becomes a JPEG at quality 90,
    downscaled until it fits.
    """
    try:
        with Image.open(io.BytesIO(data)) as opened:
            source_format = opened.format or ""
            rotated = _orientation(opened) not in (0, 1)
            if source_format == "JPEG":  # decode at a reduced scale: a fraction of the memory
                opened.draft("RGB", (MAX_SIDE_PX, MAX_SIDE_PX))
            image = ImageOps.exif_transpose(opened)  # a copy with the rotation applied
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
    ) as exc:
        raise invalid_image(f"not a decodable image ({type(exc).__name__})") from exc
    size = _displayed_size(data)
    small = max(size) <= MAX_SIDE_PX
    if source_format in PASS_THROUGH and not rotated and small and len(data) <= max_bytes:
        return ImageInput(data, PASS_THROUGH[source_format]), size
    image = _bounded(image)
    if source_format == "JPEG":
        encoded, mime_type = _jpeg(image, JPEG_QUALITY), "image/jpeg"
    else:
        encoded, mime_type = _png(image), "image/png"
    if len(encoded) > max_bytes:
        encoded, mime_type = _shrink_to_jpeg(image, max_bytes), "image/jpeg"
    return ImageInput(encoded, mime_type), size


def resolve_aspect_ratio(requested: str, image_size: tuple[int, int] | None) -> str:
    """Veo knows only 16:9 and 9:16: `auto` follows the image's orientation (portrait → 9:16)."""
    if requested != "auto":
        return requested
    if image_size is not None and image_size[1] > image_size[0]:
        return "9:16"
    return "16:9"


def _displayed_size(data: bytes) -> tuple[int, int]:
    """The full-scale size as displayed (a JPEG decoded in draft mode is smaller than that)."""
    with Image.open(io.BytesIO(data)) as header:  # reads the header only
        width, height = header.size
        if _orientation(header) in (5, 6, 7, 8):  # a quarter turn swaps the sides
            width, height = height, width
    return width, height


def _bounded(image: Image.Image) -> Image.Image:
    """Scaled down (proportions kept) so that its long side is at most MAX_SIDE_PX."""
    if max(image.size) <= MAX_SIDE_PX:
        return image
    scale = MAX_SIDE_PX / max(image.size)
    width, height = (max(1, round(side * scale)) for side in image.size)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except (TypeError, ValueError, OSError, SyntaxError):  # a broken EXIF block is no rotation
        return 1


def _png(image: Image.Image) -> bytes:
    if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _jpeg(image: Image.Image, quality: int) -> bytes:
    if image.mode != "RGB":
        image = _flatten(image) if _has_alpha(image) else image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _flatten(image: Image.Image) -> Image.Image:
    """JPEG has no alpha: composite onto white, as a viewer would show it."""
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _shrink_to_jpeg(image: Image.Image, max_bytes: int) -> bytes:
    """JPEG at quality 90, scaled down (by the square root of the overshoot) until it fits."""
    current = image
    while True:
        encoded = _jpeg(current, JPEG_QUALITY)
        if len(encoded) <= max_bytes:
            return encoded
        scale = min(SHRINK_MARGIN, (max_bytes / len(encoded)) ** 0.5 * SHRINK_MARGIN)
        width, height = (max(1, round(side * scale)) for side in current.size)
        if min(width, height) < MIN_SIDE_PX:
            raise invalid_image(f"it does not fit in {max_bytes} bytes even when downscaled")
        current = image.resize((width, height), Image.Resampling.LANCZOS)
