"""The one place upstream failures become our errors (DESIGN rule 9): an HTTP status with Google's
error body (`classify_status`), or an httpx error (`classify_exception`), each classified once as
one of the upstream errors of shared/errors.py. Pure functions: no I/O, no sleeping, no retrying.
The task layer reschedules a transient error with the one backoff function, using
`retry_after_s` when the upstream gave one (a `Retry-After` header or a google.rpc.RetryInfo).

Every message built here is scrubbed of the secrets the caller names, because Google sometimes
echoes request parts back, and bounded, because messages end up in logs and rows.
"""

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from shared.errors import (
    UpstreamConfigError,
    UpstreamError,
    UpstreamOutcomeUnknown,
    UpstreamPermanentError,
    UpstreamTransientError,
)

# Which call failed decides what a 404 means: a missing model (config), a lost operation, or an
# expired file (the Gemini Files API deletes videos after 2 days).
Phase = Literal["submit", "poll", "download", "model_check"]

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})  # the google-genai SDK's retry set
MESSAGE_MAX_CHARS = 500  # a bound on every message we build: they end up in logs and rows

# A 429 that will not clear within a retry window: the daily quota (RPD resets at midnight
# Pacific), a spend cap, or an empty prepaid balance. Matched in lower case.
_QUOTA_EXHAUSTED_PHRASES = ("per day", "spend cap", "spending cap", "spending limit", "prepay")
_INVALID_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
# Errors raised before a single byte of the request left: a submit that met one was not sent.
_NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)
# A Gemini file that expired (the Files API keeps videos for 2 days) or never was answers 403
# "You do not have permission to access the File ... or it may not exist", not 404.
_MISSING_FILE_PHRASE = "may not exist"


@dataclass(frozen=True)
class GoogleError:
    """Google's error body `{"error": {"code", "message", "status", "details"}}`, leniently."""

    http_status: int
    message: str = ""
    status: str = ""  # e.g. RESOURCE_EXHAUSTED, INVALID_ARGUMENT
    details: tuple[Mapping[str, Any], ...] = ()

    def details_of(self, type_name: str) -> list[Mapping[str, Any]]:
        """Details whose `@type` ends with `type_name` (e.g. "QuotaFailure")."""
        return [d for d in self.details if str(d.get("@type", "")).endswith(type_name)]


def parse_google_error(http_status: int, body: bytes) -> GoogleError:
    """Whatever the body holds (JSON error, a list of them, HTML from a proxy, nothing)."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace").strip()
        return GoogleError(http_status, message=" ".join(text.split())[:200])
    if isinstance(data, list) and data:  # some Google front ends wrap the error in a list
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return GoogleError(http_status)
    details = error.get("details")
    return GoogleError(
        http_status,
        message=str(error.get("message") or ""),
        status=str(error.get("status") or ""),
        details=tuple(d for d in details if isinstance(d, dict))
        if isinstance(details, list)
        else (),
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _retry_info_s(error: GoogleError) -> float | None:
    """google.rpc.RetryInfo `retryDelay` ("37s"): Gemini's 429s carry it when no header does."""
    for detail in error.details_of("RetryInfo"):
        match = _DURATION.match(str(detail.get("retryDelay", "")))
        if match:
            return float(match.group(1))
    return None


def is_quota_exhausted(error: GoogleError) -> bool:
    """A daily quota, spend cap or prepay 429: retrying within minutes cannot succeed."""
    message = error.message.lower()
    if any(phrase in message for phrase in _QUOTA_EXHAUSTED_PHRASES):
        return True
    for failure in error.details_of("QuotaFailure"):
        violations = failure.get("violations")
        for violation in violations if isinstance(violations, list) else []:
            if not isinstance(violation, dict):
                continue
            ids = f"{violation.get('quotaId', '')} {violation.get('quotaMetric', '')}"
            if "perday" in ids.lower().replace("_", "").replace("-", ""):
                return True
    return False


def _is_invalid_key(error: GoogleError) -> bool:
    """An invalid API key comes back as 400 (reason API_KEY_INVALID), not 401/403."""
    reasons = {str(d.get("reason", "")) for d in error.details_of("ErrorInfo")}
    return bool(reasons & _INVALID_KEY_REASONS) or "api key not valid" in error.message.lower()


def scrub(text: str, secrets: Sequence[str]) -> str:
    """Remove secrets from a message and bound its length (messages end up in logs and rows)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text[:MESSAGE_MAX_CHARS]


def classify_status(
    http_status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    phase: Phase,
    secrets: Sequence[str] = (),
) -> UpstreamError:
    """The error of ours for an upstream response that is not a success."""
    error = parse_google_error(http_status, body)
    label = " ".join(part for part in (str(http_status), error.status) if part)
    message = scrub(
        f"upstream {phase} failed: HTTP {label}: {error.message or 'no message'}", secrets
    )
    if http_status == 504 and phase == "submit":
        # The front end gave up waiting for the backend, which may still have started (and
        # will bill) the generation.
        return UpstreamOutcomeUnknown(message, status=http_status)
    if http_status in TRANSIENT_STATUSES:
        return _retryable(error, headers, message)
    if http_status in (400, 401, 403, 404):
        return _client_error(error, message, phase)
    return UpstreamPermanentError(message, code="upstream_error", status=http_status)


def _retryable(error: GoogleError, headers: Mapping[str, str], message: str) -> UpstreamError:
    """408/429/5xx: try later, unless the 429 is a quota that lasts until tomorrow."""
    if error.http_status == 429 and is_quota_exhausted(error):
        return UpstreamPermanentError(message, code="upstream_quota_exhausted", status=429)
    retry_after_s = parse_retry_after(headers.get("retry-after"))
    if retry_after_s is None:
        retry_after_s = _retry_info_s(error)
    return UpstreamTransientError(message, status=error.http_status, retry_after_s=retry_after_s)


def _client_error(error: GoogleError, message: str, phase: Phase) -> UpstreamError:
    """400/401/403/404: never retried; whose fault it is depends on the status and the phase."""
    status = error.http_status
    if status == 400 and not (_is_invalid_key(error) or error.status == "FAILED_PRECONDITION"):
        return UpstreamPermanentError(message, code="upstream_rejected", status=status)
    if status == 404 and phase == "poll":
        return UpstreamPermanentError(message, code="upstream_operation_lost", status=status)
    if phase == "download" and (
        status == 404 or (status == 403 and _MISSING_FILE_PHRASE in error.message.lower())
    ):  # the Files API deletes videos after 2 days; Google then answers 403, not 404
        return UpstreamPermanentError(message, code="upstream_video_lost", status=status)
    # Bad or unauthorised key/token, billing or region (FAILED_PRECONDITION), unknown or
    # retired model ("models/X is no longer available"): our setup, not this job.
    return UpstreamConfigError(message, status=status)


def classify_exception(
    exc: httpx.RequestError | httpx.InvalidURL, *, phase: Phase, secrets: Sequence[str] = ()
) -> UpstreamError:
    """Timeouts and broken connections are transient; a URL we cannot even send is not; and a
    submit that may have reached the upstream is neither (UpstreamOutcomeUnknown)."""
    message = scrub(f"upstream {phase} failed: {type(exc).__name__}: {exc}", secrets)
    if phase == "submit" and isinstance(exc, httpx.RequestError) and not _never_sent(exc):
        return UpstreamOutcomeUnknown(message)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        if phase == "download":  # the URL came from the upstream, not from our settings
            return UpstreamPermanentError(message, code="upstream_bad_url")
        return UpstreamConfigError(message)
    if isinstance(exc, httpx.TooManyRedirects):
        return UpstreamPermanentError(message, code="upstream_error")
    return UpstreamTransientError(message)  # TimeoutException, TransportError, DecodingError


def _never_sent(exc: httpx.RequestError) -> bool:
    """Whether the request certainly never left (no connection was made). Everything else on a
    submit (read or write timeouts, a dropped or reset connection, an unreadable answer) may
    have reached the upstream after all."""
    return isinstance(exc, _NEVER_SENT)
