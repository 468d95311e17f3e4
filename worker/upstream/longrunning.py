"""What the Gemini API and Vertex AI adapters share: both serve Veo through `predictLongRunning`.

Both surfaces take the same request body, and answer with a google.longrunning Operation whose
`error` is a google.rpc.Status. They differ only in where the video and the RAI counters sit
inside the operation's `response`, which each adapter reads for itself.
"""

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any

from shared.errors import UpstreamPermanentError, UpstreamResubmittable
from worker.upstream.base import ImageInput, PollResult, SubmitRequest, VideoRef, VideoSettings
from worker.upstream.classify import MESSAGE_MAX_CHARS
from worker.upstream.inline import Blob, BlobSplitter
from worker.upstream.transport import JSON_MAX_BYTES


def predict_body(
    request: SubmitRequest, video: VideoSettings, **extra_parameters: Any
) -> dict[str, Any]:
    """The `predictLongRunning` body both surfaces share, in the SDK's field order and shapes
    (tests/conformance compares it with google-genai's); Vertex adds its own parameters.

    Each option the request leaves at None falls back to the process-wide VideoSettings.
    """
    instance: dict[str, Any] = {"prompt": request.prompt}
    if request.image is not None:
        # The SDK's shape; the REST guide's `inlineData` is reported to answer 400.
        instance["image"] = image_body(request.image)
    if request.last_frame is not None:
        instance["lastFrame"] = image_body(request.last_frame)
    if request.reference_images:
        # The SDK sends its enum's value ("ASSET"/"STYLE"); Vertex's docs spell it in lower case.
        instance["referenceImages"] = [
            {"image": image_body(ref.image), "referenceType": ref.reference_type.upper()}
            for ref in request.reference_images
        ]
    # personGeneration is left out everywhere: its default is accepted on every surface and in
    # every region, while explicit values are refused in some (allow_all in the EU/UK/CH/MENA;
    # allow_adult by the Gemini API today).
    parameters: dict[str, Any] = {
        "sampleCount": request.sample_count,
        "durationSeconds": int(effective_duration(request, video)),  # the SDK sends an int
        "aspectRatio": request.aspect_ratio,
        "resolution": effective_resolution(request, video),
    }
    negative_prompt = (
        request.negative_prompt if request.negative_prompt is not None else video.negative_prompt
    )
    if negative_prompt:
        parameters["negativePrompt"] = negative_prompt
    parameters.update(extra_parameters)
    return {"instances": [instance], "parameters": parameters}


def image_body(image: ImageInput) -> dict[str, str]:
    """An inline image as both surfaces take it (`Image` in the SDK's Vertex converter)."""
    return {
        "bytesBase64Encoded": base64.b64encode(image.data).decode("ascii"),
        "mimeType": image.mime_type,
    }


def effective_model(request: SubmitRequest, video: VideoSettings) -> str:
    return request.model or video.model


def effective_duration(request: SubmitRequest, video: VideoSettings) -> int:
    return request.duration_s if request.duration_s is not None else video.duration_s


def effective_resolution(request: SubmitRequest, video: VideoSettings) -> str:
    return request.resolution or video.resolution


def check_request(request: SubmitRequest, video: VideoSettings) -> None:
    """Refuse what Veo 3.1 refuses for every model (1080p and 4k need 8 s) before paying for
    the 400; the per-model capability table refuses the rest at the API."""
    VideoSettings(
        model=effective_model(request, video),
        resolution=effective_resolution(request, video),
        duration_s=effective_duration(request, video),
    ).check()


def poll_max_bytes(max_inline_bytes: int) -> int:
    """How large a poll answer may be: a finished operation may carry the video inline (base64,
    a third larger than the video)."""
    return max(JSON_MAX_BYTES, max_inline_bytes * 4 // 3 + JSON_MAX_BYTES)


def poll_splitter(max_inline_bytes: int) -> BlobSplitter:
    """Where a poll answer's inline videos go as it streams in (kept by `keep_videos`)."""
    return BlobSplitter(max_blob_bytes=max_inline_bytes)


def keep_videos(splitter: BlobSplitter, result: PollResult) -> PollResult:
    """The result's video files outlive the poll: `download` moves them into place."""
    splitter.keep(video.path for video in result.videos)
    return result


def operation_name(operation: Mapping[str, Any]) -> str:
    """The name of the operation a submit started: our only handle on it."""
    name = operation.get("name")
    if not isinstance(name, str) or not name:
        raise UpstreamPermanentError(
            "upstream accepted the submit but named no operation", code="upstream_bad_response"
        )
    return name


def check_operation_name(operation: str, pattern: re.Pattern[str], surface: str) -> None:
    """Refuse to poll what is not an operation of this surface (it would be a path of our URL)."""
    if not pattern.fullmatch(operation) or ".." in operation:
        raise UpstreamPermanentError(
            f"not a {surface} operation name", code="upstream_operation_lost"
        )


def as_dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def read_operation(
    operation: Mapping[str, Any], read_response: Callable[[Mapping[str, Any]], PollResult]
) -> PollResult:
    """An operation running, failed, or done; `read_response` reads a done one's `response`."""
    if not operation.get("done"):  # left out while running (proto3 default)
        return PollResult(done=False)
    error = operation.get("error")
    if isinstance(error, Mapping):
        return PollResult(done=True, failure=operation_failure(error))
    return read_response(as_dict(operation.get("response")))


# google.rpc codes of a failed operation worth one new submission: RESOURCE_EXHAUSTED,
# INTERNAL, UNAVAILABLE (the SDK's own retry set, as codes rather than HTTP statuses).
RESUBMITTABLE_RPC_CODES = frozenset({8, 13, 14})
RPC_INVALID_ARGUMENT = 3
# Veo's safety filters end an operation with code 3 and a message naming "Support codes"
# (numbers that map to the filter's categories): a block, not a malformed request.
SAFETY_BLOCK_MARKER = "support codes"


def operation_failure(error: Mapping[str, Any]) -> UpstreamPermanentError:
    """`done` with `error` (a google.rpc.Status): the operation failed, with Google's words,
    classified by its code: a safety block, worth a new submission, or final."""
    code = error.get("code")
    message = str(error.get("message") or "no message")
    text = f"upstream operation failed (code {code}): {message}"[:MESSAGE_MAX_CHARS]
    if code in RESUBMITTABLE_RPC_CODES and isinstance(code, int):
        return UpstreamResubmittable(text, rpc_code=code)
    if code == RPC_INVALID_ARGUMENT and SAFETY_BLOCK_MARKER in message.lower():
        # The upstream does not charge for blocked videos, so neither do we.
        return UpstreamPermanentError(message[:MESSAGE_MAX_CHARS], code="content_blocked")
    return UpstreamPermanentError(text, code="upstream_failed")


def inline_video(encoded: Any, mime_type: str) -> PollResult:
    """A video the operation carries as base64 (a file already, if it was long: see
    worker/upstream/inline.py); a corrupt payload will not improve on re-polling."""
    if isinstance(encoded, Blob):
        if encoded.valid:
            return PollResult(done=True, videos=(VideoRef(path=encoded.path, mime_type=mime_type),))
        failure = UpstreamPermanentError(
            "upstream returned undecodable video bytes", code="upstream_bad_response"
        )
        return PollResult(done=True, failure=failure)
    try:
        data = base64.b64decode(str(encoded), validate=True)
    except (binascii.Error, ValueError):
        failure = UpstreamPermanentError(
            "upstream returned undecodable video bytes", code="upstream_bad_response"
        )
        return PollResult(done=True, failure=failure)
    return PollResult(done=True, videos=(VideoRef(data=data, mime_type=mime_type),))


def collect_videos(samples: list[PollResult]) -> PollResult | None:
    """Every sample's video, in the upstream's order; the first undecodable one fails them all
    (a corrupt payload will not improve on re-polling). None when there is no sample."""
    for sample in samples:
        if sample.failure is not None:
            return sample
    videos = tuple(video for sample in samples for video in sample.videos)
    return PollResult(done=True, videos=videos) if videos else None


def no_video_failure(counters: Mapping[str, Any]) -> UpstreamPermanentError:
    """`done` without a video: an RAI block if `counters` holds the filter fields, else a mystery.

    Callers pass the object that holds `raiMediaFilteredCount/Reasons` on their surface; a parser
    that reads the wrong level calls a blocked job a success and never refunds it.
    """
    reasons = [str(reason) for reason in as_list(counters.get("raiMediaFilteredReasons")) if reason]
    count = counters.get("raiMediaFilteredCount")
    if reasons or (isinstance(count, int) and count > 0):
        text = "; ".join(reasons) or f"{count} video(s) filtered by the upstream safety system"
        # The upstream does not charge for blocked videos, so neither do we.
        return UpstreamPermanentError(text[:MESSAGE_MAX_CHARS], code="content_blocked", refund=True)
    return UpstreamPermanentError("upstream finished without a video", code="upstream_no_video")
