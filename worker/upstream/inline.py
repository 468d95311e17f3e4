"""Videos inside a poll answer, decoded to disk as the answer streams in: never held whole.

Vertex AI without `storageUri` (and the Gemini API, where it inlines) returns the MP4 as a
base64 string inside the operation: up to ~680 MiB of JSON for the 512 MiB video cap. Parsed
whole, that is the body, the string, and the decoded bytes at once. Instead, `BlobSplitter`
reads the body chunk by chunk; every JSON string longer than BLOB_MIN_BYTES is base64-decoded
straight into a file of its own and replaced, in the small JSON that remains, by a placeholder
that `resolve` turns into a `Blob` (its path). Memory stays at a chunk or two.

Why not ijson (or json-stream): they yield each string value whole, so the 680 MiB string would
still be one Python object. Only the string boundaries matter here, which a scan for `"` and
`\\` finds at C speed.
"""

import binascii
import os
import re
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from worker.upstream.base import VideoRef
from worker.upstream.download import too_large, write_capped

BLOB_MIN_BYTES = 64 * 1024  # a string this long is no message or name: divert it to a file
_PLACEHOLDER = "\x00inline-blob:"  # NUL cannot appear raw in JSON text, only as written here
_PLACEHOLDER_JSON = b'"\\u0000inline-blob:%d"'
_STRING_STOP = re.compile(rb'["\\]')
# What a JSON escape inside base64 text may stand for (encoders may write `/` as `\/`).
_SIMPLE_ESCAPES = {ord("/"): b"/", ord("n"): b"", ord("r"): b"", ord("t"): b""}


@dataclass
class Blob:
    """A long string of the answer, base64-decoded to `path` (`valid` False: it was no base64)."""

    path: Path
    size: int = 0
    valid: bool = True


@dataclass
class _Decoder:
    """One diverted string: JSON-unescaped, base64-decoded, written to its file, size-capped."""

    blob: Blob
    max_bytes: int
    handle: IO[bytes]
    _pending: bytearray = field(default_factory=bytearray)  # base64 not yet a multiple of 4
    _escape: bytearray = field(default_factory=bytearray)  # an escape split across chunks

    def feed(self, raw: bytes) -> None:
        if self._escape or b"\\" in raw:
            raw = self._unescape(raw)
        if not self.blob.valid or not raw:
            return
        self._pending += raw.replace(b" ", b"") if b" " in raw else raw
        usable = len(self._pending) - len(self._pending) % 4
        if usable:
            self._write(bytes(self._pending[:usable]))
            del self._pending[:usable]

    def close(self) -> None:
        if self._pending or self._escape:
            self.blob.valid = False  # a truncated quad: no base64 ends like that
        self.handle.close()

    def _write(self, text: bytes) -> None:
        try:
            data = binascii.a2b_base64(text, strict_mode=True)
        except binascii.Error:
            self.blob.valid = False
            return
        self.blob.size += len(data)
        if self.blob.size > self.max_bytes:
            raise too_large(self.max_bytes)
        self.handle.write(data)

    def _unescape(self, raw: bytes) -> bytes:
        text = bytes(self._escape) + raw
        self._escape.clear()
        out = bytearray()
        start = 0
        while (slash := text.find(b"\\", start)) >= 0:
            out += text[start:slash]
            kind = text[slash + 1 : slash + 2]
            needed = 6 if kind == b"u" else 2
            if len(text) - slash < needed:  # the rest comes with the next chunk
                self._escape += text[slash:]
                return bytes(out)
            out += self._escaped(text[slash : slash + needed])
            start = slash + needed
        out += text[start:]
        return bytes(out)

    def _escaped(self, escape: bytes) -> bytes:
        if escape[1] == ord("u"):
            code = int(escape[2:], 16) if re.fullmatch(rb"[0-9a-fA-F]{4}", escape[2:]) else -1
            if 0 <= code < 128:
                return bytes([code])
        elif escape[1] in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[escape[1]]
        self.blob.valid = False
        return b""


class BlobSplitter:
    """Feed an answer's JSON text in chunks; long strings go to files, the rest is kept.

    A context manager: on leaving, every blob file not `keep`-ed is removed (all of them if the
    block raised), so nothing is left behind by an answer that turned out to be an error.
    """

    def __init__(self, *, max_blob_bytes: int, directory: Path | None = None) -> None:
        self.max_blob_bytes = max_blob_bytes
        self.min_blob_bytes = BLOB_MIN_BYTES  # shorter answers cannot hold a string to divert
        self.directory = directory or Path(tempfile.gettempdir())
        self.blobs: list[Blob] = []
        self._json = bytearray()  # the answer without its long strings
        self._in_string = False
        self._escaped = False  # the last byte fed was a backslash inside a string
        self._string = bytearray()  # the current string, while it is short enough to keep
        self._decoder: _Decoder | None = None
        self._kept: set[Path] = set()

    @property
    def kept_bytes(self) -> int:
        """How much of the answer is held in memory (the caller bounds it)."""
        return len(self._json) + len(self._string)

    def feed(self, chunk: bytes) -> None:
        position = 0
        while position < len(chunk):
            if not self._in_string:
                quote = chunk.find(b'"', position)
                end = len(chunk) if quote < 0 else quote + 1
                self._json += chunk[position:end]
                self._in_string = quote >= 0
                position = end
                continue
            position = self._feed_string(chunk, position)

    def _feed_string(self, chunk: bytes, position: int) -> int:
        """Consume string content from `position`; returns where the string's part ended."""
        if self._escaped:  # the byte after a backslash is content, whatever it is
            self._content(chunk[position : position + 1])
            self._escaped = False
            return position + 1
        match = _STRING_STOP.search(chunk, position)
        if match is None:
            self._content(chunk[position:])
            return len(chunk)
        stop = match.start()
        if chunk[stop] == ord("\\"):
            self._content(chunk[position : stop + 1])
            self._escaped = True
            return stop + 1
        self._content(chunk[position:stop])
        self._end_string()
        return stop + 1

    def _content(self, raw: bytes) -> None:
        if self._decoder is not None:
            self._decoder.feed(raw)
            return
        self._string += raw
        if len(self._string) > BLOB_MIN_BYTES:
            self._decoder = self._open_blob()
            self._decoder.feed(bytes(self._string))
            self._string.clear()

    def _open_blob(self) -> _Decoder:
        path = self.directory / f"veo-inline-{uuid.uuid4().hex}.part"
        blob = Blob(path)
        self.blobs.append(blob)
        return _Decoder(blob, self.max_blob_bytes, path.open("wb"))

    def _end_string(self) -> None:
        self._in_string = False
        if self._decoder is None:
            self._json += self._string
            self._json += b'"'
            self._string.clear()
            return
        self._decoder.close()
        self._decoder = None
        self._json[-1:] = _PLACEHOLDER_JSON % (len(self.blobs) - 1)  # replaces the opening quote

    def json_text(self) -> bytes:
        """The answer's JSON with placeholders for the long strings."""
        return bytes(self._json)

    def resolve(self, value: Any) -> Any:
        """`value` (the parsed `json_text`) with each placeholder replaced by its Blob."""
        if isinstance(value, str) and value.startswith(_PLACEHOLDER):
            index = value.removeprefix(_PLACEHOLDER)
            return self.blobs[int(index)] if index.isdigit() else value
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def keep(self, paths: Iterable[Path | None]) -> None:
        """These blob files outlive the block (their new owner removes them)."""
        self._kept.update(path for path in paths if path is not None)

    def __enter__(self) -> "BlobSplitter":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._decoder is not None:
            self._decoder.handle.close()
        for blob in self.blobs:
            if exc_type is not None or blob.path not in self._kept:
                blob.path.unlink(missing_ok=True)


def move_capped(source: Path, dest: Path, *, max_bytes: int) -> int:
    """A decoded inline video into place (a rename: same directory tree), under the cap."""
    size = source.stat().st_size
    if size > max_bytes:
        source.unlink(missing_ok=True)
        raise too_large(max_bytes)
    os.replace(source, dest)
    return size


def place_inline(video: VideoRef, dest: Path, *, max_bytes: int) -> int | None:
    """The video an operation carried (decoded to a file, or bytes) into place under the cap;
    None when it carried none and the video must be downloaded from its URI."""
    if video.path is not None:
        return move_capped(video.path, dest, max_bytes=max_bytes)
    if video.data is not None:
        return write_capped(video.data, dest, max_bytes=max_bytes)
    return None
