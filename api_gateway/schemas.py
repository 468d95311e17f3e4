"""The API's request and response shapes, in the seed's camelCase (kept apart from table models)."""

from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")


def storable(value: str) -> str:
    """Text every database can store: PostgreSQL refuses NUL, no driver encodes a lone surrogate."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def lowercase_id(value: str) -> str:
    """An id as stored: UUIDs (and hex) are case-insensitive, and ours are written in lowercase."""
    return value.lower() if value.isascii() else value


# Every client-supplied string that reaches a query or a row; a violation is the 1000 answer.
Text = Annotated[str, AfterValidator(storable)]
# A job's uuid or a delivery's id, as a client may write it (in any case).
IdText = Annotated[str, AfterValidator(storable), AfterValidator(lowercase_id)]

# An API key's id: a 32-bit integer column (a larger number is no key, not a server error).
KeyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The key's id, from GET /api/keys")]
GenerationType = Literal["text_to_video", "image_to_video"]
ModelName = Literal["veo-3.1", "veo-3.1-fast"]
Resolution = Literal["720p", "1080p", "4k"]
DurationSeconds = Literal[4, 6, 8]
ReferenceType = Literal["asset", "style"]
SEED_MAX = 4_294_967_295
AspectRatio = Literal["auto", "16:9", "9:16"]
PublicStatus = Literal["pending", "processing", "completed", "failed", "cancelled"]
WebhookEvent = Literal["video.processing", "video.completed", "video.failed", "video.cancelled"]


class Envelope(BaseModel, Generic[T]):
    code: int = Field(description="0 on success; 1000/1001/1002/1003/5000 on errors")
    msg: str
    data: T


class ErrorEnvelope(BaseModel):
    code: Literal[1000, 1001, 1002, 1003, 5000]
    msg: str = Field(description="What went wrong, naming the field for 1000")
    data: Any = None


class ReferenceImage(BaseModel):
    """One "ingredient" image whose subject the video keeps (give imageKey or imageUrl)."""

    model_config = ConfigDict(extra="forbid")

    imageKey: Text | None = Field(  # noqa: N815
        default=None, max_length=80, description="imageKey returned by /api/upload-video-image"
    )
    imageUrl: Text | None = Field(  # noqa: N815
        default=None, max_length=2048, description="http(s) URL of a JPEG/PNG/WebP image"
    )
    referenceType: ReferenceType = Field(  # noqa: N815
        default="asset",
        description="asset: a person, character or product to keep; style is not taken by "
        "Veo 3.1 (answered 1000)",
    )


class GenerationOptions(BaseModel):
    """The model's controls; each is optional and defaults to the server's setting."""

    model: ModelName | None = Field(
        default=None, description="veo-3.1 (default) or veo-3.1-fast (cheaper, quicker)"
    )
    durationSeconds: DurationSeconds | None = Field(  # noqa: N815
        default=None,
        description="Length of the video: 4, 6 or 8 (default 8); 1080p, 4k, a last frame "
        "and reference images need 8",
    )
    resolution: Resolution | None = Field(
        default=None, description="720p (default), 1080p or 4k; above 720p needs 8 seconds"
    )
    negativePrompt: Text | None = Field(  # noqa: N815
        default=None, max_length=2000, description="What the video should not show"
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=SEED_MAX,
        description="0 to 4294967295: the same seed and request give a very similar video",
    )
    generateAudio: bool | None = Field(  # noqa: N815
        default=None, description="Render a soundtrack (default true); without audio costs less"
    )
    sampleCount: int | None = Field(  # noqa: N815
        default=None,
        ge=1,
        le=4,
        description="Videos to generate from this request, 1 to 4 (default 1); each is paid",
    )


class GenerateVideoRequest(GenerationOptions):
    model_config = ConfigDict(extra="forbid")

    generationType: GenerationType  # noqa: N815 - the seed's field names
    prompt: Text = Field(description="What the video shows; 1 to `prompt_max_chars` characters")
    aspectRatio: AspectRatio = "auto"  # noqa: N815
    imageUrl: Text | None = Field(  # noqa: N815
        default=None,
        max_length=2048,
        description="http(s) URL of a JPEG/PNG/WebP image; image_to_video needs it or imageKey",
    )
    imageKey: Text | None = Field(  # noqa: N815
        default=None, max_length=80, description="imageKey returned by /api/upload-video-image"
    )
    lastFrameUrl: Text | None = Field(  # noqa: N815
        default=None,
        max_length=2048,
        description="http(s) URL of the image the video ends on (with imageUrl/imageKey: "
        "first+last-frame interpolation; 8 seconds)",
    )
    lastFrameKey: Text | None = Field(  # noqa: N815
        default=None, max_length=80, description="As lastFrameUrl, an uploaded image's imageKey"
    )
    referenceImages: list[ReferenceImage] | None = Field(  # noqa: N815
        default=None,
        max_length=3,
        description="Up to 3 images whose subject the video keeps (text_to_video; 8 seconds; "
        "veo-3.1 only)",
    )
    webhookUrl: Text | None = Field(  # noqa: N815
        default=None, max_length=2048, description="http(s) endpoint told when the video finishes"
    )
    webhookEvents: list[WebhookEvent] | None = Field(  # noqa: N815
        default=None,
        max_length=4,
        description="Events to send; the terminal ones (completed, failed, cancelled) always are",
    )


class OptionsEcho(BaseModel):
    """The options a job uses, defaults filled in (null for jobs older than the options)."""

    credits: int = Field(description="Credits charged for this job (given back if it fails)")
    model: ModelName | None = None
    durationSeconds: int | None = None  # noqa: N815
    resolution: Resolution | None = None
    negativePrompt: str | None = None  # noqa: N815
    seed: int | None = Field(default=None, description="null: the upstream picks one")
    generateAudio: bool | None = None  # noqa: N815
    sampleCount: int | None = None  # noqa: N815


class GenerateVideoData(OptionsEcho):
    uuid: str
    status: PublicStatus
    generationType: GenerationType  # noqa: N815
    prompt: str
    aspectRatio: AspectRatio  # noqa: N815
    createdAt: str  # noqa: N815


class VideoStatusData(OptionsEcho):
    uuid: str
    status: PublicStatus
    videoUrl: str | None = Field(default=None, description="The (first) video, once completed")  # noqa: N815
    videoUrls: list[str] | None = Field(  # noqa: N815
        default=None, description="Every sample's video once completed (sampleCount of them)"
    )
    progress: int = Field(ge=0, le=100)
    estimatedTime: int = Field(ge=0, description="Seconds remaining (estimate)")  # noqa: N815
    queuePosition: int | None = Field(  # noqa: N815
        default=None, description="Jobs admitted before this one while pending, else null"
    )
    error: str | None = Field(default=None, description="Why it failed (failed only)")
    errorCode: str | None = None  # noqa: N815
    generationType: GenerationType  # noqa: N815
    prompt: str = Field(description="As submitted; empty once the account was erased")
    aspectRatio: str = Field(  # noqa: N815
        description="16:9 or 9:16 once the job is submitted (auto resolved); auto until then"
    )
    createdAt: str  # noqa: N815
    startedAt: str | None = Field(  # noqa: N815
        default=None, description="When the upstream began generating it (processing)"
    )
    completedAt: str | None = Field(  # noqa: N815
        default=None, description="When it completed, failed or was cancelled"
    )
    expiresAt: str | None = Field(  # noqa: N815
        default=None,
        description="When the stored video is deleted (completed only); null: kept",
    )


class UploadData(BaseModel):
    imageUrl: str  # noqa: N815
    imageKey: str  # noqa: N815


class PushData(BaseModel):
    polled: bool = Field(description="Whether a job of ours was made due for a poll now")


class HealthData(BaseModel):
    database: bool
    redis: bool
    lastSweepAt: str | None = None  # noqa: N815
    # Submits the upstream never answered (maybe accepted and billed): see docs/guarantees.md.
    unknownSubmits: int = 0  # noqa: N815


# GET /api/account, GET /api/account/ledger, GET /api/videos, DELETE /api/videos/{uuid}


class RateLimitBudget(BaseModel):
    limit: int = Field(description="Requests per window")
    remaining: int = Field(description="Left in the current window")
    resetSeconds: int = Field(description="Seconds until the window starts again")  # noqa: N815


class RateLimits(BaseModel):
    write: RateLimitBudget = Field(description="Submits, uploads, cancels and deletes")
    read: RateLimitBudget = Field(description="Every other request")


class MonthUsage(BaseModel):
    month: str = Field(description="YYYY-MM, UTC")
    jobs: int = Field(description="Videos created this month")
    creditsSpent: int = Field(description="Credits debited this month, less refunds")  # noqa: N815


class AccountData(BaseModel):
    accountId: str  # noqa: N815
    name: str
    credits: int
    rateLimits: RateLimits  # noqa: N815
    usage: MonthUsage
    webhookUrl: str | None = Field(description="The account's default webhook endpoint")  # noqa: N815


class LedgerItem(BaseModel):
    id: str
    kind: Literal["debit", "refund", "grant"]
    amount: int = Field(ge=0, description="Always positive; kind gives the sign")
    jobId: str | None = Field(description="The video debited or refunded")  # noqa: N815
    createdAt: str  # noqa: N815


class LedgerPage(BaseModel):
    items: list[LedgerItem]
    nextCursor: str | None = Field(description="Pass as `cursor` for the next page")  # noqa: N815


class VideoPage(BaseModel):
    items: list[VideoStatusData]
    nextCursor: str | None = Field(description="Pass as `cursor` for the next page")  # noqa: N815


class DeletedVideoData(BaseModel):
    uuid: str
    deleted: Literal[True]
