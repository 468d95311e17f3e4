"""The Veo model ids the simulator knows, and what each takes (Google's model cards).

Where Google's documentation is silent the simulator is lenient: it refuses only what Google
is documented to refuse, so a request it accepts may still be refused by the real model, but a
request it refuses would be refused there too.
"""

from dataclasses import dataclass

from simulator.google_errors import invalid_argument

# Shut down on the Gemini API on 2026-10-22 (third-party copies of Google's deprecation table);
# the simulator answers them 404 "no longer available" unless started with another list.
RETIRED_PREVIEW_IDS: tuple[str, ...] = (
    "veo-3.1-generate-preview",
    "veo-3.1-fast-generate-preview",
    "veo-3.1-lite-generate-preview",
)

# What `GET /v1beta/models` lists on the Gemini surface (retired ids are left out).
GEMINI_VEO_IDS: tuple[str, ...] = (
    "veo-2.0-generate-001",
    "veo-3.0-generate-001",
    "veo-3.0-fast-generate-001",
    *RETIRED_PREVIEW_IDS,
)


@dataclass(frozen=True, slots=True)
class Capability:
    resolutions: frozenset[str]
    reference_types: frozenset[str]  # lower case, as Vertex documents them


_VEO_31 = Capability(frozenset({"720p", "1080p", "4k"}), frozenset({"asset"}))
# 4k is not offered on Lite (third-party sources); reference images there are unconfirmed.
_VEO_31_LITE = Capability(frozenset({"720p", "1080p"}), frozenset({"asset"}))
_VEO_3 = Capability(frozenset({"720p", "1080p"}), frozenset({"asset"}))
# Style reference images: "only supported by veo-2.0-generate-exp in preview" (Vertex docs).
_VEO_2_EXP = Capability(frozenset({"720p"}), frozenset({"asset", "style"}))
_VEO_2 = Capability(frozenset({"720p"}), frozenset())


def capability(model: str) -> Capability:
    if model.startswith("veo-3.1-lite"):
        return _VEO_31_LITE
    if model.startswith("veo-3.1"):
        return _VEO_31
    if model.startswith("veo-3"):
        return _VEO_3
    if model == "veo-2.0-generate-exp":
        return _VEO_2_EXP
    if model.startswith("veo-2"):
        return _VEO_2
    return _VEO_31  # a future id: judged like the newest model


def check_capabilities(model: str, resolution: str, reference_types: set[str]) -> None:
    """Refuse (400) a resolution or reference image type this model does not take."""
    can = capability(model)
    if resolution not in can.resolutions:
        raise invalid_argument(f"Resolution {resolution!r} is not supported by model {model}.")
    refused = sorted(reference_types - can.reference_types)
    if refused:
        raise invalid_argument(
            f"Reference images of type {refused[0]!r} are not supported by model {model}."
        )
