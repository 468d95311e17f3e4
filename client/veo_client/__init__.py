"""Python SDK for the Veo 3.1 video-generation API: `VeoClient`, `AsyncVeoClient`."""

from veo_client._core import GenerateOptions, RetryPolicy
from veo_client._pages import AsyncPager, Pager
from veo_client.async_client import AsyncVeoClient
from veo_client.client import VeoClient
from veo_client.errors import (
    AuthenticationError,
    ConnectionFailed,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
    VeoError,
    WaitTimeout,
    WebhookVerificationError,
)
from veo_client.models import (
    Account,
    Deleted,
    LedgerEntry,
    Page,
    ReferenceImage,
    Upload,
    Video,
    WebhookEvent,
)
from veo_client.webhooks import sign_webhook, verify_webhook

__version__ = "0.1.0"

__all__ = [
    "Account",
    "AsyncPager",
    "AsyncVeoClient",
    "AuthenticationError",
    "ConnectionFailed",
    "Deleted",
    "GenerateOptions",
    "InsufficientCredits",
    "InvalidRequest",
    "LedgerEntry",
    "NotFound",
    "Page",
    "Pager",
    "RateLimited",
    "ReferenceImage",
    "RetryPolicy",
    "ServerError",
    "Upload",
    "VeoClient",
    "VeoError",
    "Video",
    "WaitTimeout",
    "WebhookEvent",
    "WebhookVerificationError",
    "sign_webhook",
    "verify_webhook",
]
