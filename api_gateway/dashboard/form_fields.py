"""The generate form's fields, in one list: a field shows when the API's request model has it,
so an option added to GenerateVideoRequest needs one line here to appear on the page."""

from dataclasses import dataclass

from api_gateway.schemas import GenerateVideoRequest
from shared.job_options import default_credits, resolve
from shared.pricing import credits_for
from shared.settings import get_settings


@dataclass(frozen=True)
class FormField:
    name: str  # the API's field name: its 1000 errors name it in data.field
    label: str
    kind: str  # textarea | select | text | url | number | checkbox | hidden
    choices: tuple[str, ...] = ()
    hint: str = ""
    required: bool = False


ALL_FIELDS = (
    FormField("prompt", "Prompt", "textarea", required=True),
    FormField(
        "generationType",
        "Type",
        "select",
        ("text_to_video", "image_to_video"),
        "Image to video needs an image below",
        required=True,
    ),
    FormField("imageUrl", "Image URL", "url", hint="Or drop an image in the box below"),
    FormField("imageKey", "Uploaded image", "hidden"),
    FormField("aspectRatio", "Aspect ratio", "select", ("auto", "16:9", "9:16")),
    FormField("model", "Model", "select", ("veo-3.1", "veo-3.1-fast")),
    FormField("durationSeconds", "Duration (s)", "select", ("8", "6", "4")),
    FormField("resolution", "Resolution", "select", ("720p", "1080p", "4k")),
    FormField("negativePrompt", "Negative prompt", "text"),
    FormField("seed", "Seed", "number", hint="0 to 4294967295; empty: random"),
    FormField("sampleCount", "Samples", "select", ("1", "2", "3", "4")),
    FormField("generateAudio", "Generate audio", "checkbox"),
    FormField("webhookUrl", "Webhook URL", "url", hint="Empty: the account's endpoint"),
)


def form_fields() -> list[FormField]:
    """The fields this API version takes."""
    known = GenerateVideoRequest.model_fields
    return [field for field in ALL_FIELDS if field.name in known]


def request_body(form: dict[str, str]) -> dict[str, object]:
    """The JSON body the API would be sent for this form (empty fields left out)."""
    body: dict[str, object] = {}
    for field in form_fields():
        value = form.get(field.name, "").strip() if field.name != "prompt" else form.get("prompt")
        if field.kind == "checkbox":
            if field.name in form:
                body[field.name] = True
        elif value:
            body[field.name] = int(value) if field.kind == "number" and value.isdigit() else value
    if "durationSeconds" in body or "sampleCount" in body:
        for name in ("durationSeconds", "sampleCount"):
            if str(body.get(name, "")).isdigit():
                body[name] = int(str(body[name]))
    return body


def price_credits(body: dict[str, object]) -> int:
    """What the job will cost, priced as the API prices it (shared/pricing.py); the default
    request's price while the form holds values the API would refuse."""
    settings = get_settings()
    try:
        return credits_for(resolve(body, settings), settings.price_table)
    except (ValueError, TypeError, KeyError):
        return default_credits(settings)
