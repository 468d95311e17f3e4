"""Submit-body validation, mirroring what Veo 3.1 refuses on each surface (400 INVALID_ARGUMENT).

The point is to catch adapter bugs before they reach Google: `inlineData` instead of
`bytesBase64Encoded`, Vertex-only parameters sent to the Gemini API, `allow_adult` on
text-to-video, durations other than 4/6/8, 1080p/4k at less than 8 s, and so on. Messages copy
Google's wording where it is known ("`inlineData` isn't supported by this model.").
"""

import base64
import binascii
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from simulator.google_errors import GoogleApiError, invalid_argument
from simulator.models import check_capabilities

ASPECT_RATIOS: frozenset[str] = frozenset({"16:9", "9:16"})
DURATIONS: frozenset[int] = frozenset({4, 6, 8})
RESOLUTIONS: frozenset[str] = frozenset({"720p", "1080p", "4k"})
REFERENCE_TYPES: frozenset[str] = frozenset({"asset", "style"})
IMAGE_MIME_TYPES: frozenset[str] = frozenset({"image/jpeg", "image/png"})
MAX_PROMPT_WORDS = 1024  # Veo takes 1,024 tokens; a word is at least one token

_GEMINI_TOP = frozenset({"instances", "parameters", "webhookConfig"})
_VERTEX_TOP = frozenset({"instances", "parameters", "labels"})
_GEMINI_INSTANCE = frozenset({"prompt", "image", "lastFrame", "referenceImages", "video"})
_VERTEX_INSTANCE = _GEMINI_INSTANCE | {"mask"}
_GEMINI_PARAMS = frozenset(
    {
        "aspectRatio",
        "resolution",
        "durationSeconds",
        "negativePrompt",
        "personGeneration",
        "sampleCount",
        "enhancePrompt",
    }
)
_VERTEX_PARAMS = _GEMINI_PARAMS | {
    "seed",
    "generateAudio",
    "storageUri",
    "fps",
    "compressionQuality",
    "pubsubTopic",
    "resizeMode",
}
_VERTEX_PERSON = frozenset({"allow_adult", "allow_all", "dont_allow"})


@dataclass(frozen=True, slots=True)
class ImageSource:
    mime_type: str
    data: bytes | None = None
    gcs_uri: str | None = None


@dataclass(frozen=True, slots=True)
class SubmitSpec:
    prompt: str
    aspect_ratio: str
    resolution: str
    duration_s: int
    samples: int
    image: ImageSource | None  # the first frame (or first reference image): what the clip shows
    storage_uri: str | None
    pubsub_topic: str | None = None


def unsupported(field: str) -> GoogleApiError:
    return invalid_argument(f"`{field}` isn't supported by this model.")


def unknown_name(field: str, where: str = "") -> GoogleApiError:
    at = f" at '{where}'" if where else ""
    return invalid_argument(
        f'Invalid JSON payload received. Unknown name "{field}"{at}: Cannot find field.'
    )


def prompt_of(body: Any) -> str:
    """The prompt, tolerant of malformed bodies (directives are read before full validation)."""
    try:
        prompt = body["instances"][0].get("prompt", "")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return prompt if isinstance(prompt, str) else ""


def parse_submit(body: Any, surface: str, model: str = "veo-3.1-generate-001") -> SubmitSpec:
    """Validate a predictLongRunning body for `model`; raises GoogleApiError(400) like the real
    API."""
    vertex = surface == "vertex"
    instance, parameters = _envelope(body, vertex)
    prompt = instance.get("prompt", "")
    if not isinstance(prompt, str):
        raise invalid_argument("Invalid value at 'instances[0].prompt' (TYPE_STRING).")
    if len(prompt.split()) > MAX_PROMPT_WORDS:
        raise invalid_argument("The prompt is too long: it must be at most 1024 tokens.")
    image, frame_pinned, reference_types = _images(instance, prompt, vertex)
    aspect_ratio = parameters.get("aspectRatio", "16:9")
    if aspect_ratio not in ASPECT_RATIOS:
        raise invalid_argument(
            f"Aspect ratio {aspect_ratio!r} is not supported. Supported: 16:9, 9:16."
        )
    duration = _duration(parameters.get("durationSeconds", 8))
    resolution = parameters.get("resolution", "720p")
    if not isinstance(resolution, str) or resolution.lower() not in RESOLUTIONS:
        raise invalid_argument(
            f"Resolution {resolution!r} is not supported. Supported: 720p, 1080p, 4k."
        )
    resolution = resolution.lower()
    check_capabilities(model, resolution, reference_types)
    if duration != 8 and (resolution != "720p" or frame_pinned):
        raise invalid_argument(
            "1080p, 4k, first/last frame and reference images need durationSeconds 8."
        )
    _person_generation(parameters.get("personGeneration"), image is not None, vertex)
    _scalar_types(parameters)
    return SubmitSpec(
        prompt=prompt,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        duration_s=duration,
        samples=_sample_count(parameters.get("sampleCount", 1), vertex),
        image=image,
        storage_uri=_storage_uri(parameters.get("storageUri")) if vertex else None,
        pubsub_topic=_pubsub_topic(parameters.get("pubsubTopic")) if vertex else None,
    )


def _envelope(body: Any, vertex: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The single instance and the parameters, after refusing unknown field names."""
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object.")
    _refuse_unknown(body, _VERTEX_TOP if vertex else _GEMINI_TOP, unknown_name)
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise invalid_argument("Exactly one instance is required in `instances`.")
    instance: dict[str, Any] = instances[0]
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise invalid_argument("Invalid value at 'parameters': expected an object.")
    _refuse_unknown(
        instance,
        _VERTEX_INSTANCE if vertex else _GEMINI_INSTANCE,
        lambda key: unknown_name(key, "instances[0]"),
    )
    _refuse_unknown(parameters, _VERTEX_PARAMS if vertex else _GEMINI_PARAMS, unsupported)
    if "video" in instance or "mask" in instance:
        raise invalid_argument(
            "Video extension and masks are not simulated (instances[0].video/mask)."
        )
    return instance, parameters


def _refuse_unknown(
    fields: dict[str, Any], known: Collection[str], refusal: Callable[[str], Exception]
) -> None:
    """Google answers the first field it does not know, by name."""
    for key in fields:
        if key not in known:
            raise refusal(key)


def _images(
    instance: dict[str, Any], prompt: str, vertex: bool
) -> tuple[ImageSource | None, bool, set[str]]:
    """The image the clip shows (first frame or first reference), whether 8 s is required, and
    the reference types asked for."""
    image = _media(instance["image"], "instances[0].image", vertex) if "image" in instance else None
    last_frame = None
    if "lastFrame" in instance:
        last_frame = _media(instance["lastFrame"], "instances[0].lastFrame", vertex)
    references = _references(instance.get("referenceImages"), vertex)
    if last_frame is not None and image is None:
        raise invalid_argument("`lastFrame` requires `image` (the first frame).")
    if references and (image is not None or last_frame is not None):
        raise invalid_argument("`referenceImages` cannot be combined with `image` or `lastFrame`.")
    if image is None and not references and not prompt.strip():
        raise invalid_argument("A text prompt is required for text-to-video.")
    shown = image or (references[0][0] if references else None)
    return shown, last_frame is not None or bool(references), {kind for _, kind in references}


def _pubsub_topic(value: Any) -> str | None:
    """`projects/{project}/topics/{topic}`, as Vertex takes it."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"projects/[^/]+/topics/[^/]+", value):
        raise invalid_argument(
            "Invalid value at 'parameters.pubsubTopic': expected projects/{project}/topics/{topic}."
        )
    return value


def _scalar_types(parameters: dict[str, Any]) -> None:
    for key in ("negativePrompt", "pubsubTopic", "resizeMode"):
        if key in parameters and not isinstance(parameters[key], str):
            raise invalid_argument(f"Invalid value at 'parameters.{key}' (TYPE_STRING).")
    for key in ("enhancePrompt", "generateAudio"):
        if key in parameters and not isinstance(parameters[key], bool):
            raise invalid_argument(f"Invalid value at 'parameters.{key}' (TYPE_BOOL).")


def _media(value: Any, where: str, vertex: bool) -> ImageSource:
    if not isinstance(value, dict):
        raise invalid_argument(f"Invalid value at '{where}': expected an object.")
    if "inlineData" in value:
        raise unsupported("inlineData")
    for key in value:
        if key not in ("bytesBase64Encoded", "gcsUri", "mimeType"):
            raise unsupported(key)
    encoded, gcs_uri, mime_type = (
        value.get("bytesBase64Encoded"),
        value.get("gcsUri"),
        value.get("mimeType"),
    )
    if gcs_uri is not None and not vertex:
        raise unsupported("gcsUri")
    if (encoded is None) == (gcs_uri is None):
        raise invalid_argument(
            f"Exactly one of `bytesBase64Encoded` or `gcsUri` is required at '{where}'."
        )
    if mime_type not in IMAGE_MIME_TYPES:
        raise invalid_argument(
            f"Unsupported MIME type {mime_type!r} at '{where}'. Use image/jpeg or image/png."
        )
    if gcs_uri is not None:
        if (
            not isinstance(gcs_uri, str)
            or not gcs_uri.startswith("gs://")
            or "/" not in gcs_uri[5:]
        ):
            raise invalid_argument(f"Invalid GCS URI {gcs_uri!r} at '{where}'.")
        return ImageSource(mime_type, gcs_uri=gcs_uri)
    data = _base64(encoded, f"{where}.bytes_base64_encoded")
    return ImageSource(mime_type, data=data)


def _base64(encoded: Any, where: str) -> bytes:
    """Proto JSON accepts standard or URL-safe base64, with or without padding."""
    if not isinstance(encoded, str) or not encoded:
        raise invalid_argument(f"Invalid value at '{where}' (TYPE_BYTES): empty.")
    text = encoded.replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise invalid_argument(
            f"Invalid value at '{where}' (TYPE_BYTES), "
            f'Base64 decoding failed for "{encoded[:32]}"'
        ) from None
    if not data:
        raise invalid_argument(f"Invalid value at '{where}' (TYPE_BYTES): empty.")
    return data


def _references(value: Any, vertex: bool) -> list[tuple[ImageSource, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or not 1 <= len(value) <= 3:
        raise invalid_argument("`referenceImages` takes 1 to 3 images.")
    images: list[tuple[ImageSource, str]] = []
    for index, item in enumerate(value):
        where = f"instances[0].referenceImages[{index}]"
        if not isinstance(item, dict) or "image" not in item:
            raise invalid_argument(
                f"Invalid value at '{where}': expected {{image, referenceType}}."
            )
        # Vertex documents "asset"/"style"; the SDK sends its enum's "ASSET"/"STYLE".
        kind = item.get("referenceType", "asset")
        if not isinstance(kind, str) or kind.lower() not in REFERENCE_TYPES:
            raise invalid_argument(f"Invalid value at '{where}.referenceType' ({kind!r}).")
        images.append((_media(item["image"], f"{where}.image", vertex), kind.lower()))
    return images


def _duration(value: Any) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float | str):
        text = str(value).removesuffix(".0")
        number = int(text) if text.isdigit() else None
    if number not in DURATIONS:
        raise invalid_argument(
            f"The number of seconds {value!r} is out of range. Supported durations: 4, 6, 8."
        )
    return number


def _person_generation(value: Any, has_image: bool, vertex: bool) -> None:
    if value is None:
        return
    if vertex:
        if value not in _VERTEX_PERSON:
            raise invalid_argument(f"{value} for personGeneration is currently not supported.")
        return
    allowed = "allow_adult" if has_image else "allow_all"
    if value != allowed:
        raise invalid_argument(f"{value} for personGeneration is currently not supported.")


def _sample_count(value: Any, vertex: bool) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid_argument("Invalid value at 'parameters.sampleCount' (TYPE_INT32).")
    top = 4 if vertex else 1
    if not 1 <= value <= top:
        raise invalid_argument(f"sampleCount must be between 1 and {top} for this model.")
    return value


def _storage_uri(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("gs://") or len(value.rstrip("/")) <= 5:
        raise invalid_argument(f"Invalid storageUri {value!r}: expected gs://bucket/prefix/.")
    return value if value.endswith("/") else value + "/"
