"""What each model takes: one table per model, and the one check of a request against it.

A request the model would refuse (a 400 from Google, after our credits and its quota were
spent) is refused here first, as a 1000 naming the field. Sources: Vertex AI's Veo 3.1 model
cards and API reference, the google-genai SDK's converters (docs/api.md, "Generation options",
says which rules are documented and which are our conservative reading).

Pure: no settings, no I/O. The caller resolves defaults (`resolve`) and passes what the
request carries beside the options (first image, last frame, reference images).
"""

from dataclasses import dataclass, field

DEFAULT_MODEL = "veo-3.1"
SEED_MAX = 4_294_967_295  # Vertex's `seed` is a uint32
ASSET, STYLE = "asset", "style"


@dataclass(frozen=True)
class Capabilities:
    """One model's controls. `upstream_ids` maps a protocol (vertex, gemini) to its model id."""

    upstream_ids: dict[str, str]
    durations_s: frozenset[int] = frozenset({4, 6, 8})
    resolutions: tuple[str, ...] = ("720p", "1080p", "4k")
    # Resolutions above 720p render 8 s only.
    full_length_resolutions: frozenset[str] = frozenset({"1080p", "4k"})
    max_samples: int = 4
    reference_types: frozenset[str] = frozenset({ASSET})  # style: Veo 2 only, not on 3.1
    max_reference_images: int = 3
    # Interpolation (first + last frame) and reference images render 8 s only.
    full_length_features: frozenset[str] = frozenset({"lastFrame", "referenceImages"})
    # What the Gemini API's surface refuses (its SDK raises for seed and generate_audio).
    gemini_refuses: frozenset[str] = field(
        default_factory=lambda: frozenset({"seed", "generateAudio", "sampleCount"})
    )


MODELS: dict[str, Capabilities] = {
    "veo-3.1": Capabilities(
        upstream_ids={"vertex": "veo-3.1-generate-001", "gemini": "veo-3.1-generate-preview"},
    ),
    "veo-3.1-fast": Capabilities(
        upstream_ids={
            "vertex": "veo-3.1-fast-generate-001",
            "gemini": "veo-3.1-fast-generate-preview",
        },
        # Reference images are documented for Veo 3.1 only; on Fast it is unconfirmed, and a
        # refusal here costs nothing while Google's 400 costs a submit.
        reference_types=frozenset(),
        max_reference_images=0,
    ),
}


@dataclass(frozen=True)
class Options:
    """A job's generation options, every one resolved (a default filled in where not given)."""

    model: str
    duration_s: int
    resolution: str
    negative_prompt: str
    seed: int | None
    generate_audio: bool
    sample_count: int


@dataclass(frozen=True)
class Inputs:
    """The images a request carries beside its options."""

    image: bool = False
    last_frame: str | None = None  # the field that gave it: lastFrameUrl or lastFrameKey
    reference_types: tuple[str, ...] = ()


class Refused(Exception):
    """The model would refuse this request: `field` (the API's name) and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def public_model(upstream_id: str) -> str:
    """The API's name of a configured upstream id (settings.model); the default for others."""
    for name, caps in MODELS.items():
        if upstream_id in caps.upstream_ids.values():
            return name
    return DEFAULT_MODEL


def upstream_model(name: str, protocol: str) -> str:
    return MODELS[name].upstream_ids[protocol]


def check(options: Options, inputs: Inputs, protocol: str = "vertex") -> None:
    """Raise Refused for the first thing the model would refuse, in the request's field order."""
    caps = MODELS.get(options.model)
    if caps is None:
        raise Refused("model", f"must be one of {', '.join(MODELS)}")
    _check_length(options, inputs, caps)
    if not 1 <= options.sample_count <= caps.max_samples:
        raise Refused("sampleCount", f"must be 1 to {caps.max_samples} for {options.model}")
    if options.seed is not None and not 0 <= options.seed <= SEED_MAX:
        raise Refused("seed", f"must be 0 to {SEED_MAX}")
    if inputs.last_frame and not inputs.image:
        raise Refused(inputs.last_frame, "needs a first frame (imageUrl or imageKey)")
    _check_references(options.model, inputs, caps)
    if protocol == "gemini":
        _check_gemini(options, caps)


def _check_length(options: Options, inputs: Inputs, caps: Capabilities) -> None:
    durations = ", ".join(str(d) for d in sorted(caps.durations_s))
    if options.duration_s not in caps.durations_s:
        raise Refused("durationSeconds", f"must be one of {durations}")
    if options.resolution not in caps.resolutions:
        raise Refused("resolution", f"must be one of {', '.join(caps.resolutions)}")
    longest = max(caps.durations_s)
    if options.resolution in caps.full_length_resolutions and options.duration_s != longest:
        raise Refused("resolution", f"{options.resolution} needs durationSeconds {longest}")
    used = {
        "lastFrame": inputs.last_frame is not None,
        "referenceImages": bool(inputs.reference_types),
    }
    for feature in sorted(caps.full_length_features):
        if used[feature] and options.duration_s != longest:
            raise Refused("durationSeconds", f"must be {longest} with {feature}")


def _check_references(model: str, inputs: Inputs, caps: Capabilities) -> None:
    if not inputs.reference_types:
        return
    if caps.max_reference_images == 0:
        raise Refused("referenceImages", f"not supported by {model}")
    if len(inputs.reference_types) > caps.max_reference_images:
        raise Refused("referenceImages", f"at most {caps.max_reference_images} for {model}")
    for index, kind in enumerate(inputs.reference_types):
        if kind not in caps.reference_types:
            allowed = ", ".join(sorted(caps.reference_types))
            raise Refused(f"referenceImages.{index}.referenceType", f"{model} takes {allowed}")
    if inputs.image or inputs.last_frame:
        raise Refused(
            "referenceImages", "cannot be combined with imageUrl/imageKey or a last frame"
        )


def _check_gemini(options: Options, caps: Capabilities) -> None:
    """The Gemini API surface takes one sample, no seed, and always renders audio."""
    refused = {
        "seed": options.seed is not None,
        "generateAudio": not options.generate_audio,
        "sampleCount": options.sample_count != 1,
    }
    for name in sorted(caps.gemini_refuses):
        if refused[name]:
            raise Refused(name, "not supported by this server's upstream (Gemini API)")
