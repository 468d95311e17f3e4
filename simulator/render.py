"""Real, playable MP4s: small H.264 (yuv420p) clips drawn with Pillow and encoded with PyAV.

Text-to-video shows the prompt's words over a moving stripe-and-ball pattern whose colours
derive from the prompt, so different prompts give visibly different clips. Image-to-video
slowly pans and zooms over the submitted image. Clips are 2 s at 12 fps, 320x180 (16:9) or
180x320 (9:16): encoding one takes ~0.1 s, so they are rendered on demand, never kept per job.
Pure functions, no I/O beyond bytes in and bytes out; caching lives in media.py.
"""

import colorsys
import io
import math
import zlib
from collections.abc import Iterable, Iterator
from functools import cache

import av
from PIL import Image, ImageDraw, ImageFont, ImageOps

FPS = 12
CLIP_SECONDS = 2
FRAME_SIZES: dict[str, tuple[int, int]] = {"16:9": (320, 180), "9:16": (180, 320)}
INPUT_MAX_SIDE = 640  # submitted images are kept at most this large (they only feed a 320px clip)


@cache
def video_codec() -> str:
    """libx264 when PyAV's FFmpeg has it; mpeg4 (always built in) otherwise."""
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # Pillow built without FreeType: the bitmap font still works
        return ImageFont.load_default()


def encode_mp4(frames: Iterable[Image.Image], size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    codec = video_codec()
    options = {"preset": "ultrafast", "crf": "30"} if codec == "libx264" else {}
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=FPS, options=options)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for image in frames:
            frame = av.VideoFrame.from_image(image).reformat(format="yuv420p")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def render_text_clip(text: str, aspect_ratio: str, variant: int = 0) -> bytes:
    size = FRAME_SIZES[aspect_ratio]
    return encode_mp4(_text_frames(text, size, variant), size)


def render_image_clip(image: Image.Image, text: str, aspect_ratio: str, variant: int = 0) -> bytes:
    size = FRAME_SIZES[aspect_ratio]
    return encode_mp4(_image_frames(image, text, size, variant), size)


def prepare_input_image(data: bytes) -> Image.Image:
    """Decode a submitted image and shrink it; raises ValueError when it is not a usable image."""
    try:
        opened = Image.open(io.BytesIO(data))
        opened.draft("RGB", (INPUT_MAX_SIDE, INPUT_MAX_SIDE))  # JPEG: decode at reduced scale
        image = ImageOps.exif_transpose(opened).convert("RGB")
    except Exception as exc:
        raise ValueError(str(exc)) from exc
    image.thumbnail((INPUT_MAX_SIDE, INPUT_MAX_SIDE))
    return image


def _frame_count() -> int:
    return FPS * CLIP_SECONDS


def _palette(text: str, variant: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    hue = (zlib.crc32(text.encode()) % 360 + 47 * variant) / 360.0
    dark = colorsys.hsv_to_rgb(hue, 0.65, 0.35)
    light = colorsys.hsv_to_rgb((hue + 0.5) % 1.0, 0.55, 0.95)
    return (
        (int(dark[0] * 255), int(dark[1] * 255), int(dark[2] * 255)),
        (int(light[0] * 255), int(light[1] * 255), int(light[2] * 255)),
    )


def _wrap(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int, max_lines: int
) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and font.getlength(candidate) > width:
            lines.append(current)
            current = word
            if len(lines) == max_lines:
                break
        else:
            current = candidate
    if current and len(lines) < max_lines:
        lines.append(current)
    return lines or ["(no prompt)"]


def _draw_caption(
    draw: ImageDraw.ImageDraw, lines: list[str], size: tuple[int, int], top: int
) -> None:
    font = _font(14)
    line_height = 17
    height = line_height * len(lines) + 8
    draw.rectangle((0, top, size[0], top + height), fill=(0, 0, 0))
    for index, line in enumerate(lines):
        draw.text((6, top + 4 + index * line_height), line, font=font, fill=(255, 255, 255))


def _text_frames(text: str, size: tuple[int, int], variant: int) -> Iterator[Image.Image]:
    width, height = size
    background, accent = _palette(text, variant)
    lines = _wrap(text, _font(14), width - 12, 4 if height > width else 3)
    caption_top = (height - (17 * len(lines) + 8)) // 2
    small = _font(10)
    total = _frame_count()
    for index in range(total):
        t = index / total
        image = Image.new("RGB", size, background)
        draw = ImageDraw.Draw(image)
        shift = int(t * 80)
        for k in range(-2, (width + height) // 40 + 2):
            x = k * 40 + shift
            draw.polygon(
                [(x, 0), (x + 18, 0), (x + 18 - height, height), (x - height, height)], fill=accent
            )
        radius = min(width, height) // 8
        cx = int(width * (0.5 + 0.38 * math.sin(2 * math.pi * t)))
        cy = int(height * (0.5 + 0.38 * math.cos(2 * math.pi * t)))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(255, 255, 255))
        _draw_caption(draw, lines, size, caption_top)
        draw.text(
            (4, height - 13), f"veo-sim {index + 1:02d}/{total}", font=small, fill=(255, 255, 255)
        )
        yield image


def _image_frames(
    source: Image.Image, text: str, size: tuple[int, int], variant: int
) -> Iterator[Image.Image]:
    width, height = size
    base = ImageOps.fit(source, (int(width * 1.3), int(height * 1.3)))
    base_w, base_h = base.size
    lines = _wrap(text, _font(14), width - 12, 2) if text.strip() else []
    total = _frame_count()
    direction = 1 if variant % 2 == 0 else -1
    for index in range(total):
        t = index / total
        zoom = 1.0 + 0.25 * t
        crop_w, crop_h = base_w / zoom, base_h / zoom
        center_x = base_w * (0.5 + direction * 0.08 * t)
        left = min(max(0.0, center_x - crop_w / 2), base_w - crop_w)
        top = (base_h - crop_h) / 2
        frame = base.resize(
            size, Image.Resampling.BILINEAR, box=(left, top, left + crop_w, top + crop_h)
        )
        if lines:
            _draw_caption(ImageDraw.Draw(frame), lines, size, height - (17 * len(lines) + 8))
        yield frame
