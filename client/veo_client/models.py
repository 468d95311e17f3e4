"""Typed views of the API's answers: snake_case attributes over the API's camelCase fields.

Every field a gateway may leave out has a default, so one SDK works against older and newer
gateways; fields this SDK does not know are kept (`model_extra`) rather than rejected.
"""

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


class ApiModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True
    )

    def to_api(self) -> dict[str, Any]:
        """The answer as the API wrote it (camelCase, only the fields it sent), for `--json`."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Video(ApiModel):
    """A job: the create answer, the status answer, a list item or a webhook's data."""

    uuid: str
    status: str
    progress: int = 0
    estimated_time: int | None = None
    queue_position: int | None = None
    video_url: str | None = None
    video_urls: list[str] | None = None
    error: str | None = None
    error_code: str | None = None
    generation_type: str | None = None
    prompt: str | None = None
    aspect_ratio: str | None = None
    model: str | None = None
    duration_seconds: int | None = None
    resolution: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    generate_audio: bool | None = None
    sample_count: int | None = None
    credits: int | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    expires_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def urls(self) -> list[str]:
        """Every sample's URL (a gateway without `videoUrls` has only `videoUrl`)."""
        if self.video_urls:
            return list(self.video_urls)
        return [self.video_url] if self.video_url else []


class Upload(ApiModel):
    image_url: str
    image_key: str


class ReferenceImage(ApiModel):
    """One of up to 3 images the video should keep (`asset`) or imitate (`style`)."""

    image_key: str | None = None
    image_url: str | None = None
    reference_type: Literal["asset", "style"] = "asset"


class Deleted(ApiModel):
    uuid: str
    deleted: bool


class Budget(ApiModel):
    limit: int
    remaining: int
    reset_seconds: int


class RateLimits(ApiModel):
    write: Budget | None = None
    read: Budget | None = None


class Usage(ApiModel):
    month: str
    jobs: int
    credits_spent: int


class Account(ApiModel):
    account_id: str
    name: str | None = None
    credits: int
    rate_limits: RateLimits | None = None
    usage: Usage | None = None
    webhook_url: str | None = None


class LedgerEntry(ApiModel):
    id: int | str
    kind: str
    amount: int
    job_id: str | None = None
    created_at: datetime | None = None


class Page(ApiModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class WebhookEvent(ApiModel):
    """A verified webhook delivery; `data` is a Video for the `video.*` events."""

    type: str
    timestamp: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None  # the `webhook-id` header: the same on every retry, dedupe on it

    @property
    def video(self) -> Video | None:
        return Video.model_validate(self.data) if self.type.startswith("video.") else None
