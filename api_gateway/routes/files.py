"""GET /api/files/{key}: serves the local storage backend (videos and uploaded images).

No API key: the URLs must work in a `<video>` or `<img>` tag. Instead each URL is signed and
expires (shared/storage/signing.py); an unsigned, altered or expired one is refused with 1002
and HTTP 403 before anything about the file is said. Range requests are answered 206, so
players can seek; a Range this server cannot use (another unit, a malformed one) is ignored as
RFC 9110 §14.2 allows (and, for an unknown unit, requires): the whole file follows. Answers are
cached privately, until the URL expires. With the S3 backend, URLs are presigned and this
route 404s.
"""

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.responses import MalformedRangeHeader
from starlette.responses import RangeNotSatisfiable as StarletteRangeNotSatisfiable

from api_gateway.openapi import PUBLIC
from api_gateway.schemas import ErrorEnvelope
from shared.errors import ApiError, NotFound, RangeNotSatisfiable, invalid
from shared.storage import get_storage
from shared.storage.local import FILES_ROUTE, LocalStorage

router = APIRouter(tags=["files"])

CONTENT_TYPES = {
    "mp4": "video/mp4",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Even opened directly, a stored file can never run script or load anything.
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


class StoredFile(FileResponse):
    """FileResponse whose Range refusals are the envelope: Starlette answers them in plain text
    and refuses units it does not know, which RFC 9110 says to ignore."""

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader:
            return []  # no range: the whole file
        except StarletteRangeNotSatisfiable:
            error = invalid("Range", f"starts past the end of the file ({file_size} bytes)")
            # Raised while the response starts: the exception handlers render it.
            raise RangeNotSatisfiable(
                error.msg, error.data, headers={"Content-Range": f"bytes */{file_size}"}
            ) from None


def _content_type(key: str) -> str:
    extension = key.rsplit(".", 1)[-1].lower() if "." in key else ""
    return CONTENT_TYPES.get(extension, "application/octet-stream")


FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file (video/mp4, image/jpeg, image/png or image/webp)",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in sorted(set(CONTENT_TYPES.values()))
        },
    },
    206: {
        "description": "The requested byte range",
        "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
    },
    403: {"model": ErrorEnvelope, "description": "1002 the URL is unsigned, altered or expired"},
    416: {"model": ErrorEnvelope, "description": "1000 the range starts past the end"},
}
Expires = Annotated[
    int | None, Query(description="Unix time the URL expires (from the URL handed out)")
]
Signature = Annotated[
    str | None, Query(max_length=128, description="The URL's HMAC (from the URL handed out)")
]


async def _serve(key: str, expires: int | None, signature: str | None) -> FileResponse:
    """A stored file by key, once its URL's signature holds."""
    storage = get_storage()
    not_found = NotFound("Not found: no such file")
    if not isinstance(storage, LocalStorage):
        raise not_found  # S3 serves its own URLs
    left_s = storage.signer.check(f"{FILES_ROUTE}{key}", expires, signature)
    if any(part.startswith(".") for part in key.split("/")):
        raise not_found  # dot-files are in-progress writes and the signing key
    try:
        path = storage.path(key)  # refuses keys that would leave the storage root
        if not await anyio.Path(path).is_file():
            raise not_found
    except (ApiError, ValueError, OSError):  # also NUL bytes and names too long for the OS
        raise not_found from None
    headers = {**FILE_HEADERS, "Cache-Control": f"private, max-age={left_s}"}
    return StoredFile(path, media_type=_content_type(key), headers=headers)


@router.get(
    "/files/{key:path}",
    operation_id="downloadFile",
    response_class=FileResponse,
    responses=FILE_RESPONSES,
    openapi_extra=PUBLIC,
)
async def download_file(
    key: str, expires: Expires = None, signature: Signature = None
) -> FileResponse:
    """A stored file by its signed URL (as handed out in videoUrl or imageUrl); supports
    `Range` for seeking. An unsigned, altered or expired URL answers 1002 / HTTP 403; an
    unknown key 1000 / HTTP 404."""
    return await _serve(key, expires, signature)


@router.head(
    "/files/{key:path}",
    operation_id="headFile",
    response_class=FileResponse,
    responses=FILE_RESPONSES,
    openapi_extra=PUBLIC,
)
async def head_file(key: str, expires: Expires = None, signature: Signature = None) -> FileResponse:
    """The headers `downloadFile` would answer (size, type, ranges), without the body."""
    return await _serve(key, expires, signature)
