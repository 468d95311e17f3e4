"""Reading finished operations on both surfaces; the RAI counters live at different depths."""

import base64
from typing import Any

import pytest

from shared.errors import UpstreamResubmittable
from worker.upstream import gemini, vertex
from worker.upstream.base import PollResult

REASON = "We encountered an issue with the audio for your prompt. You have not been charged."
RAI = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [REASON]}


def failure_code(result: PollResult) -> str:
    assert result.done
    assert result.video is None
    assert result.failure is not None
    return result.failure.code


@pytest.mark.parametrize("parse", [gemini.parse_operation, vertex.parse_operation])
@pytest.mark.parametrize(
    "operation", [{"name": "op"}, {"name": "op", "done": False}, {"done": None}]
)
def test_missing_or_false_done_is_running(parse: Any, operation: dict[str, Any]) -> None:
    assert parse(operation) == PollResult(done=False)


@pytest.mark.parametrize("parse", [gemini.parse_operation, vertex.parse_operation])
def test_done_with_error_is_a_failure_with_the_upstream_message(parse: Any) -> None:
    result = parse(
        {"done": True, "error": {"code": 13, "message": "Internal error while generating"}}
    )
    assert failure_code(result) == "upstream_failed"
    assert result.failure is not None
    assert "Internal error while generating" in result.failure.message


@pytest.mark.parametrize("parse", [gemini.parse_operation, vertex.parse_operation])
@pytest.mark.parametrize(
    ("rpc_code", "message", "code", "resubmittable"),
    [
        pytest.param(8, "Resource exhausted", "upstream_failed", True, id="8"),
        pytest.param(13, "Internal error", "upstream_failed", True, id="13"),
        pytest.param(14, "Service unavailable", "upstream_failed", True, id="14"),
        pytest.param(
            3,
            "The prompt could not be submitted. This prompt contains words that violate "
            "Vertex AI's usage guidelines. Support codes: 61493863",
            "content_blocked",
            False,
            id="3-safety",
        ),
        pytest.param(3, "Invalid argument: sampleCount", "upstream_failed", False, id="3-plain"),
        pytest.param(9, "Failed precondition", "upstream_failed", False, id="9"),
    ],
)
def test_a_failed_operation_is_classified_by_its_rpc_code(
    parse: Any, rpc_code: int, message: str, code: str, resubmittable: bool
) -> None:
    """8/13/14 are worth a new submission; a code 3 naming support codes is a safety block."""
    result = parse({"done": True, "error": {"code": rpc_code, "message": message}})
    assert failure_code(result) == code
    assert isinstance(result.failure, UpstreamResubmittable) is resubmittable
    assert result.failure is not None
    assert result.failure.refund


def test_gemini_sample_uri() -> None:
    uri = "https://generativelanguage.googleapis.com/v1beta/files/qu4d28uipuqh:download?alt=media"
    operation = {
        "done": True,
        "response": {"generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]}},
    }
    result = gemini.parse_operation(operation)
    assert result.done
    assert result.failure is None
    assert result.video is not None
    assert result.video.uri == uri


def test_gemini_block_nested_in_generate_video_response() -> None:
    result = gemini.parse_operation({"done": True, "response": {"generateVideoResponse": RAI}})
    assert failure_code(result) == "content_blocked"
    assert result.failure is not None
    assert result.failure.message == REASON
    assert result.failure.refund is True


def test_gemini_never_calls_a_vertex_shaped_block_a_success() -> None:
    result = gemini.parse_operation({"done": True, "response": RAI})
    assert failure_code(result) == "upstream_no_video"


def test_vertex_block_at_response_level() -> None:
    result = vertex.parse_operation({"done": True, "response": {**RAI, "videos": []}})
    assert failure_code(result) == "content_blocked"
    assert result.failure is not None
    assert REASON in result.failure.message


def test_vertex_never_calls_a_gemini_shaped_block_a_success() -> None:
    result = vertex.parse_operation({"done": True, "response": {"generateVideoResponse": RAI}})
    assert failure_code(result) == "upstream_no_video"


@pytest.mark.parametrize("parse", [gemini.parse_operation, vertex.parse_operation])
@pytest.mark.parametrize("response", [None, {}, {"raiMediaFilteredCount": 0}, "junk"])
def test_done_with_neither_video_nor_block(parse: Any, response: Any) -> None:
    assert failure_code(parse({"done": True, "response": response})) == "upstream_no_video"


def test_vertex_videos_inline_and_gcs() -> None:
    data = b"\x00\x00\x00\x18ftypmp42"
    inline = vertex.parse_operation(
        {
            "done": True,
            "response": {
                "videos": [
                    {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": "video/mp4"}
                ]
            },
        }
    )
    assert inline.video is not None
    assert inline.video.data == data
    gcs = vertex.parse_operation(
        {"done": True, "response": {"videos": [{"gcsUri": "gs://b/p/sample_0.mp4"}]}}
    )
    assert gcs.video is not None
    assert gcs.video.uri == "gs://b/p/sample_0.mp4"


def test_vertex_corrupt_inline_bytes_fail_the_job() -> None:
    result = vertex.parse_operation(
        {"done": True, "response": {"videos": [{"bytesBase64Encoded": "@@not base64@@"}]}}
    )
    assert failure_code(result) == "upstream_bad_response"


def test_vertex_returns_every_sample_in_order() -> None:
    clips = [b"\x00\x00\x00\x18ftyp-first", b"\x00\x00\x00\x18ftyp-second"]
    videos = [
        {"bytesBase64Encoded": base64.b64encode(clip).decode(), "mimeType": "video/mp4"}
        for clip in clips
    ]
    result = vertex.parse_operation({"done": True, "response": {"videos": videos}})
    assert [video.data for video in result.videos] == clips
    assert result.video is not None
    assert result.video.data == clips[0]


def test_vertex_returns_every_gcs_sample() -> None:
    uris = [f"gs://bucket/out/123/sample_{index}.mp4" for index in range(3)]
    videos = [{"gcsUri": uri, "mimeType": "video/mp4"} for uri in uris]
    result = vertex.parse_operation({"done": True, "response": {"videos": videos}})
    assert [video.uri for video in result.videos] == uris


def test_one_undecodable_sample_fails_the_operation() -> None:
    videos = [{"bytesBase64Encoded": base64.b64encode(b"ok").decode()}, {"bytesBase64Encoded": "!"}]
    result = vertex.parse_operation({"done": True, "response": {"videos": videos}})
    assert failure_code(result) == "upstream_bad_response"


def test_gemini_returns_every_sample() -> None:
    uris = [f"https://example.test/v1beta/files/f{index}:download?alt=media" for index in range(2)]
    samples = [{"video": {"uri": uri}} for uri in uris]
    result = gemini.parse_operation(
        {"done": True, "response": {"generateVideoResponse": {"generatedSamples": samples}}}
    )
    assert [video.uri for video in result.videos] == uris
