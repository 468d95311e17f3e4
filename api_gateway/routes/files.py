"""GET /api/files/{key}: serves the local storage backend (videos and uploaded images).

No authentication: the keys are unguessable and the URLs must work in a `<video>` or `<img>`
tag. Range requests are answered 206, so players can seek; a Range this server cannot use
(another unit, a malformed one) is ignored as RFC 9110 §14.2 allows (and, for an unknown unit,
requires): the whole file follows. Keys are immutable, so responses are cached for a year. With
the S3 backend, URLs are presigned and this route 404s.
"""

import anyio
from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.responses import MalformedRangeHeader
from starlette.responses import RangeNotSatisfiable as StarletteRangeNotSatisfiable

from api_gateway.schemas import ErrorEnvelope
from shared.errors import ApiError, NotFound, RangeNotSatisfiable, invalid
from shared.storage import get_storage
from shared.storage.local import LocalStorage

router = APIRouter(tags=["files"])

CONTENT_TYPES = {
    "mp4": "video/mp4",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}
FILE_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
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


@router.api_route(
    "/files/{key:path}",
    methods=["GET", "HEAD"],
    response_class=FileResponse,
    responses={
        206: {"description": "The requested byte range"},
        416: {"model": ErrorEnvelope, "description": "1000 the range starts past the end"},
    },
)
async def get_file(key: str) -> FileResponse:
    """A stored file by key; supports `Range` for seeking. Unknown keys answer 1000 / HTTP 404."""
    storage = get_storage()
    not_found = NotFound("Not found: no such file")
    hidden = any(part.startswith(".") for part in key.split("/"))
    if not isinstance(storage, LocalStorage) or hidden:
        raise not_found  # S3 serves its own URLs; dot-files are in-progress writes
    try:
        path = storage.path(key)  # refuses keys that would leave the storage root
        if not await anyio.Path(path).is_file():
            raise not_found
    except (ApiError, ValueError, OSError):  # also NUL bytes and names too long for the OS
        raise not_found from None
    return StoredFile(path, media_type=_content_type(key), headers=FILE_HEADERS)
