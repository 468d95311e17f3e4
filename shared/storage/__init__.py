"""Where uploaded images and finished videos live: a local directory or S3-compatible storage."""

from functools import cache
from pathlib import Path
from typing import BinaryIO, Protocol

from shared.settings import get_settings


class Storage(Protocol):
    def put_file(self, key: str, path: Path, content_type: str, *, move: bool = False) -> None:
        """Store the file at `path` under `key` (atomically: readers never see half a file).
        `move`: the caller is done with `path`, so a local store may rename it into place."""

    def read_bytes(self, key: str, max_bytes: int) -> bytes:
        """The object's bytes; raises FileNotFoundError, or ValueError past `max_bytes`."""

    def open(self, key: str) -> BinaryIO:
        """A readable stream of the object; raises FileNotFoundError."""

    def url(self, key: str) -> str:
        """A URL a browser can fetch without our API key, for a limited time (signed by us,
        or presigned); a new one in every answer."""

    def delete(self, key: str) -> None:
        """Remove the object; nothing happens if it is already gone."""


@cache
def get_storage() -> Storage:
    settings = get_settings()
    if settings.storage_backend == "s3":
        from shared.storage.s3 import S3Storage

        return S3Storage(settings)
    from shared.storage.local import LocalStorage
    from shared.storage.signing import UrlSigner

    signer = UrlSigner(
        settings.url_signing_key.get_secret_value(),
        settings.local_storage_dir,
        settings.file_url_expiry_s,
    )
    return LocalStorage(settings.local_storage_dir, settings.public_base_url, signer)
