"""Signed, expiring file URLs for the local storage backend (S3 presigns its own).

A URL is `/api/files/<key>?expires=<unix>&signature=<hex>`, the signature an HMAC-SHA256 over
the path and the expiry, so whoever sees a job id cannot fetch its video, and a leaked URL stops
working. The expiry is rounded up to the hour: answers within one hour hand out the same URL,
so a player or browser cache keeps working across polls.

The key is `VEO_URL_SIGNING_KEY`, or one generated on first use and kept (mode 0600) in the
storage directory as `.url-signing-key`: the gateways (which sign and check) and the workers
(which sign the URLs in webhook payloads) share that directory anyway, as they must to share the
files, and /api/files never serves a dot-file.
"""

import hashlib
import hmac
import math
import os
import secrets
import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from shared.errors import LinkRefused
from shared.timeutil import iso_z

KEY_FILE = ".url-signing-key"
ROUND_S = 3600


@cache
def _kept_key(directory: str) -> bytes:
    """The generated key in `directory`; created with O_EXCL, so processes starting at once
    agree on one key."""
    path = Path(directory) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing = path.read_text().strip()
        if existing:
            return existing.encode()
        path.write_text(candidate + "\n")  # an empty file left by a crash: fill it in
        path.chmod(0o600)
        return candidate.encode()
    with os.fdopen(fd, "w") as handle:
        handle.write(candidate + "\n")
    return candidate.encode()


class UrlSigner:
    """Signs and checks the paths under /api/files of one storage directory."""

    def __init__(self, configured_key: str, directory: Path, expiry_s: int) -> None:
        self._configured = configured_key.encode()
        self._directory = str(directory)
        self.expiry_s = expiry_s

    def _key(self) -> bytes:
        return self._configured or _kept_key(self._directory)

    def signature(self, path: str, expires: int) -> str:
        message = f"{path}\n{expires}".encode()
        return hmac.new(self._key(), message, hashlib.sha256).hexdigest()

    def query(self, path: str, now: float | None = None) -> str:
        """`expires=...&signature=...` for `path`, valid at least `expiry_s` from now."""
        moment = time.time() if now is None else now
        expires = math.ceil((moment + self.expiry_s) / ROUND_S) * ROUND_S
        return f"expires={expires}&signature={self.signature(path, expires)}"

    def check(
        self, path: str, expires: int | None, signature: str | None, now: float | None = None
    ) -> int:
        """Seconds the URL stays valid; raises LinkRefused if it is unsigned, altered or
        expired (checked before anything about the file is said)."""
        if expires is None or not signature:
            raise LinkRefused(
                "File URLs are signed: use the videoUrl or imageUrl of a fresh answer"
                " (this one has no expires and signature)"
            )
        expected = self.signature(path, expires).encode()
        if not hmac.compare_digest(expected, signature.lower().encode(errors="replace")):
            raise LinkRefused("This file URL's signature does not match it")
        left = expires - (time.time() if now is None else now)
        if left <= 0:
            raise LinkRefused(
                f"This file URL expired at {iso_z(datetime.fromtimestamp(expires, UTC))}:"
                " GET the video's status (or upload again) for a fresh one"
            )
        return int(left)
