"""A job's generation options as stored in its `options` column (JSON, in the API's names), with
every default filled in from settings when the job is accepted: what was charged, sent upstream
and echoed in the status are the same values, whatever the settings say later.

Beside the scalar options the column keeps the extra inputs (`lastFrameUrl`/`lastFrameKey`,
`referenceImages`), which the worker fetches as it does the first image.
"""

from typing import Any

from shared.capabilities import Options, public_model
from shared.pricing import credits_for
from shared.settings import Settings

# The scalar options, in the API's names (also the keys the status answer echoes).
ECHOED = (
    "model",
    "durationSeconds",
    "resolution",
    "negativePrompt",
    "seed",
    "generateAudio",
    "sampleCount",
)


def default_model(settings: Settings) -> str:
    return public_model(settings.model) if settings.model else "veo-3.1"


def resolve(given: dict[str, Any], settings: Settings) -> Options:
    """The options of a request (API names; None or absent: not given), defaults filled in."""

    def pick(name: str, default: Any) -> Any:
        value = given.get(name)
        return default if value is None else value

    return Options(
        model=pick("model", default_model(settings)),
        duration_s=pick("durationSeconds", settings.duration_s),
        resolution=pick("resolution", settings.resolution),
        negative_prompt=pick("negativePrompt", settings.negative_prompt),
        seed=given.get("seed"),
        generate_audio=pick("generateAudio", settings.generate_audio),
        sample_count=pick("sampleCount", 1),
    )


def to_column(options: Options, inputs: dict[str, Any]) -> dict[str, Any]:
    """The `options` column: the resolved options, then the extra inputs that were given."""
    stored: dict[str, Any] = {
        "model": options.model,
        "durationSeconds": options.duration_s,
        "resolution": options.resolution,
        "negativePrompt": options.negative_prompt,
        "seed": options.seed,
        "generateAudio": options.generate_audio,
        "sampleCount": options.sample_count,
    }
    stored.update({name: value for name, value in inputs.items() if value})
    return stored


def from_column(stored: dict[str, Any]) -> Options:
    return Options(
        model=stored["model"],
        duration_s=stored["durationSeconds"],
        resolution=stored["resolution"],
        negative_prompt=stored["negativePrompt"],
        seed=stored["seed"],
        generate_audio=stored["generateAudio"],
        sample_count=stored["sampleCount"],
    )


def echoed(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The options as the create and status answers show them (None each for a job accepted
    before options existed)."""
    stored = stored or {}
    return {name: stored.get(name) for name in ECHOED}


def default_credits(settings: Settings) -> int:
    """What a request without options costs (the seed's request)."""
    return credits_for(resolve({}, settings), settings.price_table)
