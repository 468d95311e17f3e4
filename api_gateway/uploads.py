"""Receiving an image upload: the body is streamed to a temp file, judged by its bytes, stored.

Nothing trusts the client: not Content-Length (the stream is counted), not the filename, not
the part's Content-Type. The type comes from the magic number, Pillow must agree, the header's
dimensions are checked before any pixel is decoded, then one full decode proves the file whole.

Polyglot policy: bytes after the image's end (a ZIP or HTML appended to a JPEG) are accepted and
stored unchanged, because re-encoding would alter what the user sent to the model. Such a file
can do no harm here: the first bytes are an image magic number, it is stored under the extension
of the sniffed type, and /api/files serves it with that exact type, `X-Content-Type-Options:
nosniff` and a sandboxing Content-Security-Policy, so no browser renders it as anything else.
"""

import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import anyio
from PIL import Image
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import func, select
from sqlmodel import col
from starlette.requests import ClientDisconnect, Request

from api_gateway.errors import payload_too_large
from api_gateway.tuning import pin_mmap_threshold
from shared.db import read_session, write_session
from shared.errors import PayloadTooLarge, invalid
from shared.models import UPLOAD_KEY_PREFIX, Upload
from shared.settings import get_settings
from shared.storage import get_storage

FIELD = "file"
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries, part headers and small extra fields
FLUSH_BYTES = 1024 * 1024  # bytes held in memory per upload before a (threaded) disk write
MAX_PARTS = 8
MAX_SIDE_PX = 16_384  # far beyond any model input; refuses 1 x 40,000,000 "images"
DECODE_CONCURRENCY = 2  # full decodes at once per process: a 40 MP RGBA decode holds 160 MB

# Pillow format name -> (MIME type, file extension). The keys are the formats Pillow may open.
IMAGE_TYPES = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
NOT_AN_IMAGE = "not a JPEG, PNG or WebP image"


@dataclass(frozen=True)
class ReceivedFile:
    path: Path
    size_bytes: int


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: JPEG, PNG, WEBP
    width: int
    height: int

    @property
    def mime_type(self) -> str:
        return IMAGE_TYPES[self.format][0]

    @property
    def extension(self) -> str:
        return IMAGE_TYPES[self.format][1]


def too_large(max_bytes: int) -> PayloadTooLarge:
    """The 1000 error for an oversized file, with HTTP 413 and the limit in `data`."""
    reason = f"larger than the {max_bytes // (1024 * 1024)} MB limit"
    return payload_too_large(FIELD, reason, maxBytes=max_bytes)


def refuse_declared_length(request: Request, max_bytes: int) -> None:
    """Refuse before reading a byte when Content-Length already says the body is too big."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + MULTIPART_OVERHEAD_BYTES:
        raise too_large(max_bytes)


def _boundary(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise invalid(FIELD, "send the image as multipart/form-data in a field named 'file'")
    return boundary


class _FilePartCollector:
    """Multipart callbacks (called synchronously inside `parser.write`): keeps the `file` part.

    The file's bytes wait in `pending` until the async side writes them to disk; the size
    limit is enforced here, on the bytes actually received.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.pending = bytearray()
        self.size_bytes = 0
        self.parts = 0
        self.found = False
        self.ended = False
        self._in_file = False
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise invalid(FIELD, f"more than {MAX_PARTS} form fields")
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition"))
        if params.get(b"name") != FIELD.encode():
            return
        if self.found:
            raise invalid(FIELD, "send exactly one file")
        self.found = self._in_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_file:
            return  # other fields are ignored; the whole body is capped by the caller
        self.size_bytes += end - start
        if self.size_bytes > self.max_bytes:
            raise too_large(self.max_bytes)
        self.pending += data[start:end]

    def on_part_end(self) -> None:
        self._in_file = False

    def on_end(self) -> None:
        self.ended = True


async def _parse_into(request: Request, max_bytes: int, target: Path) -> int:
    """Stream the body through the parser into `target`; the file part's size in bytes."""
    collector = _FilePartCollector(max_bytes)
    body_cap = max_bytes + MULTIPART_OVERHEAD_BYTES
    received = 0
    async with await anyio.open_file(target, "wb") as sink:
        try:
            parser = MultipartParser(_boundary(request), collector.callbacks())  # type: ignore[arg-type]
            async for chunk in request.stream():
                received += len(chunk)
                if received > body_cap:
                    raise too_large(max_bytes)
                parser.write(chunk)
                if len(collector.pending) >= FLUSH_BYTES:
                    await sink.write(bytes(collector.pending))
                    collector.pending.clear()
        except FormParserError as exc:  # also a boundary longer than the RFC allows
            raise invalid(FIELD, "malformed multipart/form-data body") from exc
        except ClientDisconnect as exc:
            raise invalid(FIELD, "the upload was interrupted") from exc
        await sink.write(bytes(collector.pending))
    if not collector.ended:
        raise invalid(FIELD, "the multipart/form-data body ended early")
    if not collector.found:
        raise invalid(FIELD, "missing: send the image in a multipart field named 'file'")
    if collector.size_bytes == 0:
        raise invalid(FIELD, "the file is empty")
    return collector.size_bytes


@asynccontextmanager
async def receive_file(request: Request, max_bytes: int) -> AsyncIterator[ReceivedFile]:
    """The `file` part of a multipart request in a temp file, deleted on exit.

    At most `max_bytes` of file (plus a small multipart allowance) is ever read: the request
    is refused the moment more arrives, whatever Content-Length said.
    """
    fd, name = tempfile.mkstemp(prefix="veo-upload-")
    os.close(fd)
    path = Path(name)
    try:
        size_bytes = await _parse_into(request, max_bytes, path)
        yield ReceivedFile(path, size_bytes)
    finally:
        with suppress(FileNotFoundError):
            path.unlink()


def sniff_format(head: bytes) -> str | None:
    """The image format by magic number (JPEG, PNG, WEBP), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def inspect_image(path: Path, max_pixels: int) -> ImageInfo:
    """Decide the type by the bytes and prove the image decodes; blocking, run it in a thread."""
    with path.open("rb") as stream:
        expected = sniff_format(stream.read(16))
    if expected is None:
        raise invalid(FIELD, NOT_AN_IMAGE)
    try:
        with Image.open(path, formats=[expected]) as image:
            if image.format != expected:
                raise invalid(FIELD, NOT_AN_IMAGE)
            width, height = image.size
            if not (0 < width <= MAX_SIDE_PX and 0 < height <= MAX_SIDE_PX):
                reason = f"{width}x{height} pixels: each side must be 1 to {MAX_SIDE_PX}"
                raise invalid(FIELD, reason)
            if width * height > max_pixels:
                raise invalid(FIELD, f"{width}x{height} pixels is more than {max_pixels} pixels")
            image.load()  # the full decode: truncated or corrupt data fails here
    except Image.DecompressionBombError as exc:
        raise invalid(FIELD, f"declares more than {max_pixels} pixels") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # Pillow's ways of saying "broken"
        raise invalid(FIELD, f"{NOT_AN_IMAGE}, or the image data is truncated or corrupt") from exc
    return ImageInfo(expected, width, height)


@cache
def _decode_limiter() -> anyio.CapacityLimiter:
    pin_mmap_threshold()  # once per process, before the first decode
    return anyio.CapacityLimiter(DECODE_CONCURRENCY)


async def inspect_image_async(path: Path, max_pixels: int) -> ImageInfo:
    """`inspect_image` off the event loop, with few decodes at once so memory stays bounded."""
    limiter = _decode_limiter()
    return await anyio.to_thread.run_sync(inspect_image, path, max_pixels, limiter=limiter)


def check_quota(account_id: str, size_bytes: int) -> None:
    """Refuse an upload that would take the account's stored uploads past
    `upload_quota_bytes` (1000, HTTP 413, with the quota and what is used in `data`)."""
    quota = get_settings().upload_quota_bytes
    with read_session() as session:
        used = session.execute(
            select(func.coalesce(func.sum(col(Upload.size_bytes)), 0)).where(
                col(Upload.account_id) == account_id
            )
        ).scalar_one()
    if int(used) + size_bytes > quota:
        mib = 1024 * 1024
        reason = (
            f"the account's uploads would take {(int(used) + size_bytes) / mib:.1f} MB, over its"
            f" quota of {quota / mib:.0f} MB (uploads no job used for a day are removed)"
        )
        raise payload_too_large(FIELD, reason, quotaBytes=quota, usedBytes=int(used))


def store(account_id: str, received: ReceivedFile, image: ImageInfo) -> Upload:
    """Write the bytes, then the row (a row never points at a missing file), within the
    account's upload quota. Blocking."""
    check_quota(account_id, received.size_bytes)
    upload = Upload(
        key=f"{UPLOAD_KEY_PREFIX}{secrets.token_urlsafe(18)}",
        account_id=account_id,
        mime_type=image.mime_type,
        size_bytes=received.size_bytes,
        width=image.width,
        height=image.height,
    )
    get_storage().put_file(upload.storage_key, received.path, image.mime_type)
    with write_session() as session:
        session.add(upload)
        session.commit()
    return upload
