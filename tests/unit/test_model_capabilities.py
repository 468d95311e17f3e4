"""What each model takes (shared/capabilities.py): a request Veo would refuse is refused first,
naming the field, so no credit and no paid submit is spent on Google's 400."""

from itertools import product

import pytest

from shared.capabilities import Inputs, Options, Refused, check, public_model, upstream_model


def options(**changes: object) -> Options:
    values: dict[str, object] = {
        "model": "veo-3.1",
        "duration_s": 8,
        "resolution": "720p",
        "negative_prompt": "",
        "seed": None,
        "generate_audio": True,
        "sample_count": 1,
    }
    values.update(changes)
    return Options(**values)  # type: ignore[arg-type]


NO_IMAGES = Inputs()


def refusal(opts: Options, inputs: Inputs = NO_IMAGES, protocol: str = "vertex") -> str | None:
    try:
        check(opts, inputs, protocol)
    except Refused as refused:
        return refused.field
    return None


@pytest.mark.parametrize(
    ("model", "resolution", "duration_s"),
    list(product(("veo-3.1", "veo-3.1-fast"), ("720p", "1080p", "4k"), (4, 6, 8))),
    ids=str,
)
def test_above_720p_renders_only_at_8_seconds(model: str, resolution: str, duration_s: int) -> None:
    allowed = resolution == "720p" or duration_s == 8
    expected = None if allowed else "resolution"
    assert refusal(options(model=model, resolution=resolution, duration_s=duration_s)) == expected


@pytest.mark.parametrize(
    ("opts", "inputs", "field"),
    [
        pytest.param(options(model="veo-2"), Inputs(), "model", id="unknown-model"),
        pytest.param(options(duration_s=5), Inputs(), "durationSeconds", id="5s"),
        pytest.param(options(resolution="480p"), Inputs(), "resolution", id="480p"),
        pytest.param(options(sample_count=0), Inputs(), "sampleCount", id="no-samples"),
        pytest.param(options(sample_count=5), Inputs(), "sampleCount", id="5-samples"),
        pytest.param(options(sample_count=4), Inputs(), None, id="4-samples"),
        pytest.param(options(seed=-1), Inputs(), "seed", id="negative-seed"),
        pytest.param(options(seed=2**32), Inputs(), "seed", id="seed-past-uint32"),
        pytest.param(options(seed=2**32 - 1), Inputs(), None, id="largest-seed"),
        pytest.param(
            options(), Inputs(last_frame="lastFrameKey"), "lastFrameKey", id="last-no-first"
        ),
        pytest.param(
            options(), Inputs(image=True, last_frame="lastFrameUrl"), None, id="first-and-last"
        ),
        pytest.param(
            options(duration_s=6),
            Inputs(image=True, last_frame="lastFrameUrl"),
            "durationSeconds",
            id="interpolation-6s",
        ),
        pytest.param(options(), Inputs(reference_types=("asset",) * 3), None, id="3-assets"),
        pytest.param(
            options(), Inputs(reference_types=("asset",) * 4), "referenceImages", id="4-assets"
        ),
        pytest.param(
            options(),
            Inputs(reference_types=("asset", "style")),
            "referenceImages.1.referenceType",
            id="style-on-3.1",
        ),
        pytest.param(
            options(duration_s=4),
            Inputs(reference_types=("asset",)),
            "durationSeconds",
            id="references-4s",
        ),
        pytest.param(
            options(),
            Inputs(image=True, reference_types=("asset",)),
            "referenceImages",
            id="references-and-image",
        ),
        pytest.param(
            options(model="veo-3.1-fast"),
            Inputs(reference_types=("asset",)),
            "referenceImages",
            id="references-on-fast",
        ),
    ],
)
def test_each_combination_the_model_refuses_names_its_field(
    opts: Options, inputs: Inputs, field: str | None
) -> None:
    assert refusal(opts, inputs) == field


@pytest.mark.parametrize(
    ("opts", "field"),
    [
        (options(seed=7), "seed"),
        (options(generate_audio=False), "generateAudio"),
        (options(sample_count=2), "sampleCount"),
        (options(), None),
    ],
    ids=["seed", "silent", "samples", "default"],
)
def test_the_gemini_api_takes_no_seed_one_sample_and_always_audio(
    opts: Options, field: str | None
) -> None:
    assert refusal(opts, protocol="gemini") == field
    assert refusal(opts, protocol="vertex") is None


def test_api_names_map_to_each_protocols_model_ids() -> None:
    assert upstream_model("veo-3.1", "vertex") == "veo-3.1-generate-001"
    assert upstream_model("veo-3.1-fast", "vertex") == "veo-3.1-fast-generate-001"
    assert upstream_model("veo-3.1-fast", "gemini") == "veo-3.1-fast-generate-preview"
    assert public_model("veo-3.1-fast-generate-001") == "veo-3.1-fast"
    assert public_model("veo-3.1-generate-preview") == "veo-3.1"
    assert public_model("some-other-id") == "veo-3.1"
