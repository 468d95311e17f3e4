"""The one classification table (DESIGN rule 9): pure functions, no network."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from worker.upstream.base import (
    UpstreamConfigError,
    UpstreamError,
    UpstreamPermanentError,
    UpstreamTransientError,
)
from worker.upstream.http import Phase, classify_status, parse_retry_after, scrub

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def google_error(code: int, message: str, status: str, details: list[dict[str, Any]] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}).encode()


def quota_failure(quota_id: str, metric: str = "") -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaId": quota_id, "quotaMetric": metric}],
    }


RATE_MESSAGE = "You exceeded your current quota, please check your plan and billing details."


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("1.5", 1.5),
        (" 30 ", 30.0),
        ("-3", 0.0),
        ("Fri, 27 Nov 2026 12:00:30 GMT", 30.0),
        ("Fri, 27 Nov 2026 11:00:00 GMT", 0.0),  # already past
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


CASES: list[tuple[str, int, bytes, dict[str, str], Phase, type[UpstreamError], str | None, float | None]] = [
    # id, HTTP status, body, headers, phase, class, code, retry_after_s
    ("429 per-minute with Retry-After", 429, google_error(429, RATE_MESSAGE, "RESOURCE_EXHAUSTED",
        [quota_failure("PredictLongRunningRequestsPerMinutePerProjectPerModel")]),
        {"retry-after": "7"}, "submit", UpstreamTransientError, None, 7.0),
    ("429 RetryInfo only", 429, google_error(429, RATE_MESSAGE, "RESOURCE_EXHAUSTED",
        [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]),
        {}, "submit", UpstreamTransientError, None, 37.0),
    ("429 per day in message", 429, google_error(429, "Quota exceeded for quota metric "
        "'Generate requests per day'", "RESOURCE_EXHAUSTED"),
        {"retry-after": "40000"}, "submit", UpstreamPermanentError, "upstream_quota_exhausted", None),
    ("429 PerDay quotaId", 429, google_error(429, RATE_MESSAGE, "RESOURCE_EXHAUSTED",
        [quota_failure("PredictLongRunningRequestsPerDayPerProjectPerModel")]),
        {}, "submit", UpstreamPermanentError, "upstream_quota_exhausted", None),
    ("429 per_day metric", 429, google_error(429, RATE_MESSAGE, "RESOURCE_EXHAUSTED",
        [quota_failure("", "generativelanguage.googleapis.com/generate_requests_per_model_per_day")]),
        {}, "poll", UpstreamPermanentError, "upstream_quota_exhausted", None),
    ("429 spend cap", 429, google_error(429, "Your project has exceeded its spend cap.",
        "RESOURCE_EXHAUSTED"), {}, "submit", UpstreamPermanentError, "upstream_quota_exhausted", None),
    ("429 prepay", 429, google_error(429, "Your prepayment credits are depleted.",
        "RESOURCE_EXHAUSTED"), {}, "submit", UpstreamPermanentError, "upstream_quota_exhausted", None),
    ("408", 408, b"", {}, "poll", UpstreamTransientError, None, None),
    ("500", 500, google_error(500, "Internal error encountered.", "INTERNAL"), {}, "submit",
        UpstreamTransientError, None, None),
    ("502 html from a proxy", 502, b"<html><body>Bad Gateway</body></html>", {}, "poll",
        UpstreamTransientError, None, None),
    ("503 with Retry-After", 503, google_error(503, "The model is overloaded.", "UNAVAILABLE"),
        {"retry-after": "12"}, "submit", UpstreamTransientError, None, 12.0),
    ("504", 504, google_error(504, "Deadline expired", "DEADLINE_EXCEEDED"), {}, "download",
        UpstreamTransientError, None, None),
    ("400 invalid argument", 400, google_error(400, "durationSeconds must be 8 for 1080p",
        "INVALID_ARGUMENT"), {}, "submit", UpstreamPermanentError, "upstream_rejected", None),
    ("400 invalid API key", 400, google_error(400, "API key not valid. Please pass a valid API key.",
        "INVALID_ARGUMENT", [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID"}]), {}, "submit", UpstreamConfigError, "upstream_config", None),
    ("400 failed precondition", 400, google_error(400, "User location is not supported.",
        "FAILED_PRECONDITION"), {}, "submit", UpstreamConfigError, "upstream_config", None),
    ("401", 401, google_error(401, "Request had invalid authentication credentials.",
        "UNAUTHENTICATED"), {}, "poll", UpstreamConfigError, "upstream_config", None),
    ("403", 403, google_error(403, "The caller does not have permission", "PERMISSION_DENIED"),
        {}, "submit", UpstreamConfigError, "upstream_config", None),
    ("404 retired model at submit", 404, google_error(404,
        "models/veo-3.1-generate-preview is no longer available", "NOT_FOUND"), {}, "submit",
        UpstreamConfigError, "upstream_config", None),
    ("404 at model check", 404, google_error(404, "not found", "NOT_FOUND"), {}, "model_check",
        UpstreamConfigError, "upstream_config", None),
    ("404 operation", 404, google_error(404, "Requested entity was not found.", "NOT_FOUND"), {},
        "poll", UpstreamPermanentError, "upstream_operation_lost", None),
    ("404 expired file", 404, google_error(404, "File not found", "NOT_FOUND"), {}, "download",
        UpstreamPermanentError, "upstream_video_lost", None),
    ("409 anything else", 409, google_error(409, "Aborted", "ABORTED"), {}, "submit",
        UpstreamPermanentError, "upstream_error", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("http_status", "body", "headers", "phase", "kind", "code", "retry_after_s"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_classify_status(
    http_status: int,
    body: bytes,
    headers: dict[str, str],
    phase: Phase,
    kind: type[UpstreamError],
    code: str | None,
    retry_after_s: float | None,
) -> None:
    error = classify_status(http_status, headers, body, phase=phase)
    assert type(error) is kind
    assert error.status == http_status
    if code is not None:
        assert isinstance(error, UpstreamPermanentError)
        assert error.code == code
    if isinstance(error, UpstreamTransientError):
        assert error.retry_after_s == retry_after_s


def test_message_carries_googles_words() -> None:
    body = google_error(404, "models/veo-3.1-generate-preview is no longer available", "NOT_FOUND")
    error = classify_status(404, {}, body, phase="submit")
    assert "is no longer available" in error.message
    assert "NOT_FOUND" in error.message


def test_secrets_never_reach_a_message() -> None:
    key = "AIzaSyEXAMPLEKEY0123456789"
    body = google_error(400, f"API key {key} not valid. Please pass a valid API key.", "INVALID_ARGUMENT")
    error = classify_status(400, {}, body, phase="submit", secrets=(key,))
    assert key not in error.message
    assert "[redacted]" in error.message
    assert scrub("x" * 10_000, ()) == "x" * 500


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b"{\"error\": \"flat string\"}", b"\xff\xfe"])
def test_odd_error_bodies_still_classify(body: bytes) -> None:
    assert isinstance(classify_status(503, {}, body, phase="poll"), UpstreamTransientError)
    assert classify_status(400, {}, body, phase="submit").code == "upstream_rejected"  # type: ignore[attr-defined]
