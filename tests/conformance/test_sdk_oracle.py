"""Google's own client as the judge of the simulator and of our Vertex adapter.

Every case runs twice against one simulator: once through `google-genai` in Vertex AI mode with
its defaults (API version v1beta1), once through worker/upstream/vertex.py with the same inputs.
The simulator must answer the SDK as Google does (a case the SDK cannot complete is a simulator
bug), and the request body our adapter sent must equal the SDK's field by field: every
difference fails unless it is listed below with the reason it is deliberate.
"""

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.genai import errors, types

from shared.errors import UpstreamConfigError, UpstreamError
from tests.conformance.conftest import FAST_MODEL, MODEL, Oracle, png, sdk_image
from tests.upstream.conftest import run
from worker.upstream.base import ImageInput, PollResult, ReferenceImageInput, SubmitRequest
from worker.upstream.vertex import VertexUpstream

FIRST, LAST = png("orange"), png("navy")
REFERENCES = [png(color, (90, 160)) for color in ("green", "purple", "teal", "maroon")]
GCS_PREFIX = "gs://conformance-bucket/videos/"
DONE_WITHIN_S = 15.0

# Fields our adapter always sends and the SDK sends only when asked; we send Google's default.
DEFAULTS_WE_SEND: dict[str, Any] = {
    "parameters.sampleCount": 1,
    "parameters.durationSeconds": 8,
    "parameters.aspectRatio": "16:9",
    "parameters.resolution": "720p",
    # On explicitly: whether Vertex defaults it on for every Veo 3.1 model is unconfirmed.
    "parameters.generateAudio": True,
}
PERSON_GENERATION = (
    "left out on purpose: the default is accepted in every region, explicit values are not"
)
ENHANCE_PROMPT = (
    "no per-job option: we leave enhancePrompt at Vertex's default (on), the SDK sends it asked"
)


@dataclass(frozen=True)
class Case:
    id: str
    config: dict[str, Any] = field(default_factory=dict)  # GenerateVideosConfig fields
    options: dict[str, Any] = field(default_factory=dict)  # SubmitRequest fields
    image: ImageInput | None = None
    model: str = MODEL
    gcs: str = ""
    samples: int = 1
    prompt: str = "a lighthouse in a storm"
    documented: Mapping[str, str] = field(default_factory=dict)  # body field -> why it differs


def refs(*kinds: str) -> tuple[list[types.VideoGenerationReferenceImage], dict[str, Any]]:
    """The same reference images for the SDK's config and for our SubmitRequest."""
    images = REFERENCES[: len(kinds)]
    sdk = [
        # A user passes the lower-case value Vertex documents; the SDK maps it to its enum.
        types.VideoGenerationReferenceImage(
            image=sdk_image(image), reference_type=types.VideoGenerationReferenceType(kind)
        )
        for image, kind in zip(images, kinds, strict=True)
    ]
    ours = tuple(
        ReferenceImageInput(image, kind) for image, kind in zip(images, kinds, strict=True)
    )
    return sdk, {"reference_images": ours}


ASSET_SDK, ASSET_OURS = refs("asset", "asset", "asset")

COMPLETING = [
    Case("text"),
    Case("portrait", {"aspect_ratio": "9:16"}, {"aspect_ratio": "9:16"}),
    Case("image", image=FIRST),
    Case("last frame", {"last_frame": sdk_image(LAST)}, {"last_frame": LAST}, image=FIRST),
    Case("reference images (asset)", {"reference_images": ASSET_SDK}, ASSET_OURS),
    Case("seed", {"seed": 4_294_967_295}, {"seed": 4_294_967_295}),
    Case("negative prompt", {"negative_prompt": "text, blur"}, {"negative_prompt": "text, blur"}),
    Case("1080p", {"resolution": "1080p"}, {"resolution": "1080p"}),
    Case("4k", {"resolution": "4k", "duration_seconds": 8}, {"resolution": "4k", "duration_s": 8}),
    Case("4 s", {"duration_seconds": 4}, {"duration_s": 4}),
    Case("6 s", {"duration_seconds": 6}, {"duration_s": 6}),
    Case("no audio", {"generate_audio": False}, {"generate_audio": False}),
    Case("audio", {"generate_audio": True}, {"generate_audio": True}),
    Case("two samples", {"number_of_videos": 2}, {"sample_count": 2}, samples=2),
    Case("four samples", {"number_of_videos": 4}, {"sample_count": 4}, samples=4),
    Case("output to GCS", {"output_gcs_uri": GCS_PREFIX}, gcs=GCS_PREFIX),
    Case(
        "enhance prompt",
        {"enhance_prompt": True},
        documented={"parameters.enhancePrompt": ENHANCE_PROMPT},
    ),
    Case("fast model", model=FAST_MODEL),
    Case(
        "options we do not offer",
        {
            "person_generation": "allow_adult",
            "compression_quality": types.VideoCompressionQuality.OPTIMIZED,
            "labels": {"team": "video"},
        },
        documented={
            "parameters.personGeneration": PERSON_GENERATION,
            "parameters.compressionQuality": "no option: Vertex's default (optimized) is ours",
            "labels.team": "no option: billing labels are the project owner's business",
        },
    ),
    Case(
        "everything at once",
        {
            "last_frame": sdk_image(LAST),
            "aspect_ratio": "9:16",
            "resolution": "1080p",
            "duration_seconds": 8,
            "seed": 7,
            "negative_prompt": "people",
            "generate_audio": False,
            "number_of_videos": 2,
            "output_gcs_uri": GCS_PREFIX,
        },
        {
            "last_frame": LAST,
            "aspect_ratio": "9:16",
            "resolution": "1080p",
            "duration_s": 8,
            "seed": 7,
            "negative_prompt": "people",
            "generate_audio": False,
            "sample_count": 2,
        },
        image=FIRST,
        gcs=GCS_PREFIX,
        samples=2,
    ),
]

TOO_MANY_SDK, TOO_MANY_OURS = refs("asset", "asset", "asset", "asset")
STYLE_SDK, STYLE_OURS = refs("style")

# Cases Google refuses at submit: the simulator answers the SDK and our adapter alike.
REFUSED = [
    Case("bad aspect ratio", {"aspect_ratio": "1:1"}, {"aspect_ratio": "1:1"}),
    Case("too many reference images", {"reference_images": TOO_MANY_SDK}, TOO_MANY_OURS),
    # Vertex: style reference images are "only supported by veo-2.0-generate-exp".
    Case("style reference on Veo 3.1", {"reference_images": STYLE_SDK}, STYLE_OURS),
    Case("unknown model", model="not-a-veo-model"),
    Case("retired model", model="veo-3.1-generate-preview"),
    Case("retired fast model", model="veo-3.1-fast-generate-preview"),
]


def unique(case: Case) -> str:
    return f"{case.prompt} ({case.id}) #{uuid.uuid4().hex[:10]}"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": [1]}}` -> `{"a.b[0]": 1}`: every leaf of a JSON body under its path."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else key))
        return flat
    if isinstance(value, list):
        flat = {}
        for index, item in enumerate(value):
            flat.update(flatten(item, f"{prefix}[{index}]"))
        return flat
    return {prefix: value}


def body_differences(
    sdk: dict[str, Any], ours: dict[str, Any], documented: Mapping[str, str]
) -> dict[str, tuple[Any, Any]]:
    """Every field whose value differs, but for the defaults we send and `documented` ones."""
    left, right = flatten(sdk), flatten(ours)
    missing = object()
    differences: dict[str, tuple[Any, Any]] = {}
    for path in sorted(left.keys() | right.keys()):
        theirs, mine = left.get(path, missing), right.get(path, missing)
        if theirs == mine or path in documented:
            continue
        if theirs is missing and path in DEFAULTS_WE_SEND and mine == DEFAULTS_WE_SEND[path]:
            continue
        differences[path] = (theirs, mine)
    return differences


def assert_same_request(sdk: dict[str, Any], ours: dict[str, Any], case: Case) -> None:
    # The SDK defaults to v1beta1; we call the GA v1. The simulator serves both alike.
    assert sdk["path"].replace("/v1beta1/", "/v1/", 1) == ours["path"]
    assert body_differences(sdk["body"], ours["body"], case.documented) == {}


def sdk_config(case: Case) -> types.GenerateVideosConfig:
    return types.GenerateVideosConfig(**case.config)


def sdk_submit(oracle: Oracle, case: Case, prompt: str) -> types.GenerateVideosOperation:
    source = types.GenerateVideosSource(
        prompt=prompt, image=sdk_image(case.image) if case.image else None
    )
    return oracle.sdk.models.generate_videos(
        model=case.model, source=source, config=sdk_config(case)
    )


def sdk_until_done(oracle: Oracle, operation: types.GenerateVideosOperation) -> Any:
    """`operations.get` until done, as the SDK's docstring polls (bounded here)."""
    client, deadline = oracle.sdk, time.monotonic() + DONE_WITHIN_S
    while not operation.done:
        assert time.monotonic() < deadline, f"{operation.name} not done"
        time.sleep(0.05)
        operation = client.operations.get(operation)
    return operation


def our_request(case: Case, prompt: str) -> SubmitRequest:
    options = {"aspect_ratio": "16:9", **case.options}
    return SubmitRequest(prompt=prompt, image=case.image, model=case.model, **options)


def our_run(oracle: Oracle, case: Case, prompt: str) -> tuple[str, PollResult]:
    """Submit through our adapter and poll it until done; the operation and its result."""

    async def scenario(adapter: VertexUpstream) -> tuple[str, PollResult]:
        operation = await adapter.submit(our_request(case, prompt))
        deadline = time.monotonic() + DONE_WITHIN_S
        while not (result := await adapter.poll(operation)).done:
            assert time.monotonic() < deadline, f"{operation} not done"
            await asyncio.sleep(0.05)
        return operation, result

    return run(oracle.ours(model=case.model, output_gcs_uri=case.gcs), scenario)


@pytest.mark.parametrize("case", COMPLETING, ids=lambda case: case.id)
def test_the_sdk_and_our_adapter_send_the_same_request_and_get_every_video(
    oracle: Oracle, case: Case
) -> None:
    prompt = unique(case)
    sdk_operation = sdk_until_done(oracle, sdk_submit(oracle, case, prompt))
    our_operation, ours = our_run(oracle, case, prompt)

    assert_same_request(oracle.sent_for(sdk_operation.name), oracle.sent_for(our_operation), case)
    assert sdk_operation.error is None
    assert ours.failure is None
    sdk_videos = [video.video for video in sdk_operation.result.generated_videos]
    assert len(sdk_videos) == len(ours.videos) == case.samples
    for index, (sdk_video, mine) in enumerate(zip(sdk_videos, ours.videos, strict=True)):
        assert sdk_video is not None
        theirs = sdk_video.model_dump()
        assert theirs["mime_type"] == mine.mime_type == "video/mp4"
        if case.gcs:
            assert str(theirs["uri"]).startswith(case.gcs)
            assert str(mine.uri).startswith(case.gcs)
            assert str(theirs["uri"]).endswith(f"/sample_{index}.mp4")
            assert str(mine.uri).endswith(f"/sample_{index}.mp4")
        else:
            # Ours is decoded to a file while the answer streams in (worker/upstream/inline.py).
            head = mine.data if mine.data is not None else mine.path.read_bytes()[:8]
            assert theirs["video_bytes"][4:8] == head[4:8] == b"ftyp"
            if mine.path is not None:
                mine.path.unlink()


def test_a_safety_block_reads_the_same_through_both(oracle: Oracle) -> None:
    case = Case("safety", prompt="[sim block=safety] a lighthouse in a storm")
    prompt = unique(case)
    sdk_operation = sdk_until_done(oracle, sdk_submit(oracle, case, prompt))
    our_operation, ours = our_run(oracle, case, prompt)

    assert_same_request(oracle.sent_for(sdk_operation.name), oracle.sent_for(our_operation), case)
    response = sdk_operation.result
    assert not response.generated_videos
    assert response.rai_media_filtered_count == 1
    assert ours.failure is not None
    assert ours.failure.code == "content_blocked"
    assert ours.failure.refund
    assert ours.failure.message == response.rai_media_filtered_reasons[0]


def test_an_operation_that_ends_in_error_reads_the_same_through_both(oracle: Oracle) -> None:
    case = Case("error", prompt="[sim error=13] a lighthouse in a storm")
    prompt = unique(case)
    sdk_operation = sdk_until_done(oracle, sdk_submit(oracle, case, prompt))
    _, ours = our_run(oracle, case, prompt)

    assert sdk_operation.error is not None
    assert sdk_operation.error["code"] == 13
    assert ours.failure is not None
    assert ours.videos == ()
    assert str(sdk_operation.error["message"]) in ours.failure.message


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.id)
def test_the_sdk_and_our_adapter_are_refused_alike(oracle: Oracle, case: Case) -> None:
    prompt = unique(case)
    with pytest.raises(errors.ClientError) as sdk_refusal:
        sdk_submit(oracle, case, prompt)
    with pytest.raises(UpstreamError) as our_refusal:
        run(oracle.ours(model=case.model), lambda a: a.submit(our_request(case, prompt)))

    assert our_refusal.value.status == sdk_refusal.value.code in (400, 404)
    assert str(sdk_refusal.value.message) in our_refusal.value.message
    sdk_sent, our_sent = oracle.refused_for(prompt)
    assert sdk_sent["error"] == our_sent["error"]
    assert_same_request(sdk_sent, our_sent, case)


def test_1080p_at_4_s_is_refused_by_google_and_by_us_before_any_call(oracle: Oracle) -> None:
    case = Case(
        "1080p at 4 s",
        {"resolution": "1080p", "duration_seconds": 4},
        {"resolution": "1080p", "duration_s": 4},
    )
    prompt = unique(case)
    with pytest.raises(errors.ClientError) as sdk_refusal:
        sdk_submit(oracle, case, prompt)
    assert sdk_refusal.value.code == 400
    assert "8" in (sdk_refusal.value.message or "")
    # Deliberate difference: our adapter refuses it itself and never pays for the round trip.
    with pytest.raises(UpstreamConfigError, match="needs an 8 s duration"):
        run(oracle.ours(), lambda a: a.submit(our_request(case, prompt)))
    assert len(oracle.refused_for(prompt)) == 1  # the SDK's submit only
