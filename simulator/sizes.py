"""Videos as large as Veo's: a rendered clip followed by an MP4 `free` box.

The simulator renders small clips (2 s, 320x180) because encoding is the expensive part. With
`video_size=real` each clip is padded, at the top level of the file, with a `free` box (ISO/IEC
14496-12 §8.1.2: contents ignored by every reader) up to the size a Veo 3.1 file of that
resolution and duration has, so downloads, storage and memory see realistic bytes while the
file still decodes. Veo's H.264 output (with AAC audio) runs at roughly:

- 720p:  0.6 MB per second of video (~4.8 MB for 8 s)
- 1080p: 1.6 MB per second (~12.8 MB for 8 s)
- 4k:    5 MB per second (~40 MB for 8 s)
"""

import struct
from collections.abc import Iterator

MB = 1_000_000
BYTES_PER_SECOND = {"720p": int(0.6 * MB), "1080p": int(1.6 * MB), "4k": 5 * MB}
BOX_HEADER = 8  # 32-bit size + type
CHUNK = 1 << 20


def target_bytes(resolution: str, duration_s: int) -> int:
    """What a Veo 3.1 clip of this resolution and duration weighs, roughly."""
    return BYTES_PER_SECOND.get(resolution, BYTES_PER_SECOND["720p"]) * duration_s


def padding_for(clip_bytes: int, target: int) -> int:
    """Bytes of `free` box (header included) to append; 0 when the clip is already as large."""
    missing = target - clip_bytes
    return missing if missing >= BOX_HEADER else 0


def free_box_header(total: int) -> bytes:
    """The header of a `free` box of `total` bytes (header included)."""
    return struct.pack(">I4s", total, b"free")


def padded_chunks(clip: bytes, target: int) -> Iterator[bytes]:
    """The clip, then its padding, in chunks of at most 1 MiB (never the whole file at once)."""
    yield clip
    pad = padding_for(len(clip), target)
    if not pad:
        return
    zeros = bytes(CHUNK)
    yield free_box_header(pad)
    left = pad - BOX_HEADER
    while left > 0:
        step = min(left, CHUNK)
        yield zeros if step == CHUNK else bytes(step)
        left -= step


def padded(clip: bytes, target: int) -> bytes:
    """The whole padded file (for Vertex's inline `bytesBase64Encoded`, which is one string)."""
    return b"".join(padded_chunks(clip, target))


def size_of(clip: bytes, target: int) -> int:
    return len(clip) + padding_for(len(clip), target)
