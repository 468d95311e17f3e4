"""The one small interface every upstream model speaks, and the values that cross it.

Adapters are the only code that sees httpx errors or upstream status codes: they classify each
failure once (worker/upstream/classify.py) as one of the upstream errors of shared/errors.py,
transient (try again later) or permanent (fail the job).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.errors import UpstreamConfigError, UpstreamPermanentError


@dataclass(frozen=True)
class ImageInput:
    data: bytes
    mime_type: str  # image/png or image/jpeg: adapters never send WebP


@dataclass(frozen=True)
class ReferenceImageInput:
    """A reference image for Veo 3.1's "ingredients to video" (`referenceImages[]`)."""

    image: ImageInput
    reference_type: str  # "asset" or "style", as Vertex AI spells it


@dataclass(frozen=True)
class SubmitRequest:
    """One generation as the user asked for it; a None option falls back to the process-wide
    VideoSettings the adapter was built with (the settings' defaults)."""

    prompt: str
    aspect_ratio: str  # "16:9" or "9:16": `auto` is resolved before we get here
    image: ImageInput | None = None
    model: str | None = None  # the upstream's model id (veo-3.1-generate-001, ...)
    duration_s: int | None = None
    resolution: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    generate_audio: bool | None = None
    sample_count: int = 1
    last_frame: ImageInput | None = None  # with `image`: first+last-frame interpolation
    reference_images: tuple[ReferenceImageInput, ...] = ()


@dataclass(frozen=True)
class VideoRef:
    """Where a finished video is: a URI to download, the bytes themselves, or (inline in the
    answer, decoded as it streamed in) a local file the adapter's `download` moves into place."""

    uri: str | None = None
    data: bytes | None = None
    path: Path | None = None
    mime_type: str = "video/mp4"


@dataclass(frozen=True)
class PollResult:
    done: bool
    videos: tuple[VideoRef, ...] = ()  # one per sample, in the upstream's order
    failure: UpstreamPermanentError | None = None

    @property
    def video(self) -> VideoRef | None:
        """The first sample: the job's `videoUrl`."""
        return self.videos[0] if self.videos else None


@dataclass(frozen=True)
class VideoSettings:
    """What every generation of this process asks for (from settings, never from the user)."""

    model: str
    resolution: str = "720p"  # 720p, 1080p or 4k
    duration_s: int = 8  # 4, 6 or 8
    negative_prompt: str = ""
    generate_audio: bool = True  # Vertex `generateAudio`

    def check(self) -> None:
        """Refuse what Veo 3.1 rejects (1080p and 4k need 8 s) before paying for the 400."""
        if self.resolution in ("1080p", "4k") and self.duration_s != 8:
            raise UpstreamConfigError(
                f"resolution {self.resolution} needs an 8 s duration, not {self.duration_s} s"
            )


class Upstream(Protocol):
    name: str

    async def check_model(self) -> None:
        """Raise UpstreamConfigError if the configured model is unknown or retired."""

    async def submit(self, request: SubmitRequest) -> str:
        """Start a generation; returns the upstream operation name (our only handle on it)."""

    async def poll(self, operation: str) -> PollResult:
        """Check an operation once (never waits for it to finish)."""

    async def download(self, video: VideoRef, dest: Path, *, max_bytes: int) -> int:
        """Write the video to `dest`; returns its size. Raises past `max_bytes`."""

    async def aclose(self) -> None:
        """Close pooled connections."""
