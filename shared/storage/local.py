"""Local-directory storage (a shared volume in compose); the gateway serves it at /api/files/."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from shared.errors import invalid
from shared.storage.signing import UrlSigner

FILES_ROUTE = "/api/files/"


class LocalStorage:
    def __init__(self, root: Path, public_base_url: str, signer: UrlSigner) -> None:
        self.root = root
        self.public_base_url = public_base_url
        self.signer = signer

    def path(self, key: str) -> Path:
        """The file for `key`, refusing keys that would leave the storage root."""
        root = self.root.resolve()
        target = (root / key).resolve()
        if root not in target.parents:
            raise invalid("key", "not a storage key")
        return target

    def put_file(self, key: str, path: Path, content_type: str, *, move: bool = False) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            # A rename instead of a copy (a temporary file, a copy and two opens per video).
            with contextlib.suppress(OSError):  # another filesystem: copy below
                os.replace(path, target)
                return
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        os.close(fd)
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)

    def read_bytes(self, key: str, max_bytes: int) -> bytes:
        target = self.path(key)
        if target.stat().st_size > max_bytes:
            raise ValueError(f"object {key} is larger than {max_bytes} bytes")
        return target.read_bytes()

    def open(self, key: str) -> BinaryIO:
        return self.path(key).open("rb")

    def url(self, key: str) -> str:
        """A signed URL, valid for `file_url_expiry_s` (shared/storage/signing.py)."""
        path = f"{FILES_ROUTE}{key}"
        return f"{self.public_base_url}{path}?{self.signer.query(path)}"

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
