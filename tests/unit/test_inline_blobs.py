"""Inline videos decoded from a poll answer as it streams in (worker/upstream/inline.py): the
long base64 string becomes a file whatever the chunking, the rest of the JSON parses as before."""

import base64
import json
import random
from pathlib import Path

import pytest

from shared.errors import UpstreamPermanentError
from worker.upstream.inline import BLOB_MIN_BYTES, Blob, BlobSplitter


def _video(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def _answer(video: bytes, *, escape_slashes: bool = False) -> bytes:
    encoded = base64.b64encode(video).decode()
    operation = {
        "name": "projects/p/locations/us-central1/publishers/google/models/m/operations/1",
        "done": True,
        "response": {
            "videos": [{"bytesBase64Encoded": encoded, "mimeType": "video/mp4"}],
            "note": 'a "quoted" \\ short string',
        },
    }
    text = json.dumps(operation)
    if escape_slashes:
        text = text.replace("/", "\\/")  # some encoders escape every slash
    return text.encode()


def _split(body: bytes, chunk_sizes: list[int], tmp_path: Path, max_bytes: int = 10**9) -> Blob:
    splitter = BlobSplitter(max_blob_bytes=max_bytes, directory=tmp_path)
    with splitter:
        position, index = 0, 0
        while position < len(body):
            size = chunk_sizes[index % len(chunk_sizes)]
            splitter.feed(body[position : position + size])
            position, index = position + size, index + 1
        parsed = splitter.resolve(json.loads(splitter.json_text()))
        video = parsed["response"]["videos"][0]["bytesBase64Encoded"]
        assert isinstance(video, Blob)
        assert parsed["response"]["note"] == 'a "quoted" \\ short string'
        assert parsed["name"].endswith("/operations/1")
        assert len(splitter.json_text()) < 1024  # the video is not in memory
        splitter.keep([video.path])
    return video


@pytest.mark.parametrize("chunks", [[65536], [1], [7, 1, 3], [4099, 2], [1_000_000]])
@pytest.mark.parametrize("escape_slashes", [False, True])
def test_a_long_base64_string_lands_decoded_in_a_file_whatever_the_chunking(
    tmp_path: Path, chunks: list[int], escape_slashes: bool
) -> None:
    size = BLOB_MIN_BYTES * 2 + 5 if chunks != [1] else BLOB_MIN_BYTES + 100
    video = _video(size)
    blob = _split(_answer(video, escape_slashes=escape_slashes), chunks, tmp_path)
    assert blob.valid
    assert blob.size == len(video)
    assert blob.path.read_bytes() == video


def test_short_strings_stay_in_the_json(tmp_path: Path) -> None:
    splitter = BlobSplitter(max_blob_bytes=10**6, directory=tmp_path)
    with splitter:
        splitter.feed(_answer(b"tiny video"))
        parsed = splitter.resolve(json.loads(splitter.json_text()))
    video = parsed["response"]["videos"][0]["bytesBase64Encoded"]
    assert base64.b64decode(video) == b"tiny video"
    assert list(tmp_path.iterdir()) == []


def test_a_long_string_that_is_no_base64_is_marked_invalid_and_removed(tmp_path: Path) -> None:
    body = json.dumps({"done": True, "x": "not base64! " * BLOB_MIN_BYTES}).encode()
    with BlobSplitter(max_blob_bytes=10**9, directory=tmp_path) as splitter:
        splitter.feed(body)
        parsed = splitter.resolve(json.loads(splitter.json_text()))
        assert parsed["x"].valid is False
    assert list(tmp_path.iterdir()) == []  # not kept: removed on leaving


def test_a_video_over_the_cap_stops_the_answer_and_leaves_no_file(tmp_path: Path) -> None:
    body = _answer(_video(BLOB_MIN_BYTES * 3))

    def stream() -> None:
        with BlobSplitter(max_blob_bytes=BLOB_MIN_BYTES * 2, directory=tmp_path) as splitter:
            for start in range(0, len(body), 65536):
                splitter.feed(body[start : start + 65536])

    with pytest.raises(UpstreamPermanentError) as caught:
        stream()
    assert caught.value.code == "video_too_large"
    assert list(tmp_path.iterdir()) == []
