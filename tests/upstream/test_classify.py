"""The one classification table (DESIGN rule 9): pure functions, no network."""

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.errors import (
    UpstreamConfigError,
    UpstreamError,
    UpstreamOutcomeUnknown,
    UpstreamPermanentError,
    UpstreamTransientError,
)
from worker.upstream.classify import (
    Phase,
    classify_exception,
    classify_status,
    parse_retry_after,
    scrub,
)

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def google_error(
    code: int, message: str, status: str, details: list[dict[str, Any]] | None = None
) -> bytes:
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


T, P, C, U = (
    UpstreamTransientError,
    UpstreamPermanentError,
    UpstreamConfigError,
    UpstreamOutcomeUnknown,
)
EXHAUSTED, QUOTA = "RESOURCE_EXHAUSTED", "upstream_quota_exhausted"
PER_MINUTE = quota_failure("PredictLongRunningRequestsPerMinutePerProjectPerModel")
PER_DAY = quota_failure("PredictLongRunningRequestsPerDayPerProjectPerModel")
PER_DAY_METRIC = quota_failure("", "generativelanguage.googleapis.com/requests_per_model_per_day")
RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}
BAD_KEY = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
RETIRED = "models/veo-3.1-generate-preview is no longer available"

# HTTP status, body, headers, phase, class, code, retry_after_s
CASES = [
    pytest.param(
        429, google_error(429, RATE_MESSAGE, EXHAUSTED, [PER_MINUTE]), {"retry-after": "7"},
        "submit", T, None, 7.0, id="429 per-minute with Retry-After",
    ),
    pytest.param(
        429, google_error(429, RATE_MESSAGE, EXHAUSTED, [RETRY_INFO]), {}, "submit", T, None, 37.0,
        id="429 RetryInfo only",
    ),
    pytest.param(
        429, google_error(429, "Quota exceeded for 'Generate requests per day'", EXHAUSTED),
        {"retry-after": "40000"}, "submit", P, QUOTA, None, id="429 per day in message",
    ),
    pytest.param(
        429, google_error(429, RATE_MESSAGE, EXHAUSTED, [PER_DAY]), {}, "submit", P, QUOTA, None,
        id="429 PerDay quotaId",
    ),
    pytest.param(
        429, google_error(429, RATE_MESSAGE, EXHAUSTED, [PER_DAY_METRIC]), {}, "poll", P, QUOTA,
        None, id="429 per_day metric",
    ),
    pytest.param(
        429, google_error(429, "Your project has exceeded its spend cap.", EXHAUSTED), {},
        "submit", P, QUOTA, None, id="429 spend cap",
    ),
    pytest.param(
        429, google_error(429, "Your prepayment credits are depleted.", EXHAUSTED), {}, "submit",
        P, QUOTA, None, id="429 prepay",
    ),
    pytest.param(408, b"", {}, "poll", T, None, None, id="408"),
    pytest.param(
        500, google_error(500, "Internal error encountered.", "INTERNAL"), {}, "submit", T, None,
        None, id="500",
    ),
    pytest.param(
        502, b"<html><body>Bad Gateway</body></html>", {}, "poll", T, None, None,
        id="502 html from a proxy",
    ),
    pytest.param(
        503, google_error(503, "The model is overloaded.", "UNAVAILABLE"), {"retry-after": "12"},
        "submit", T, None, 12.0, id="503 with Retry-After",
    ),
    pytest.param(
        504, google_error(504, "Deadline expired", "DEADLINE_EXCEEDED"), {}, "download", T, None,
        None, id="504",
    ),
    pytest.param(
        400, google_error(400, "durationSeconds must be 8 for 1080p", "INVALID_ARGUMENT"), {},
        "submit", P, "upstream_rejected", None, id="400 invalid argument",
    ),
    pytest.param(
        400, google_error(400, "API key not valid.", "INVALID_ARGUMENT", [BAD_KEY]), {}, "submit",
        C, "upstream_config", None, id="400 invalid API key",
    ),
    pytest.param(
        400, google_error(400, "User location is not supported.", "FAILED_PRECONDITION"), {},
        "submit", C, "upstream_config", None, id="400 failed precondition",
    ),
    pytest.param(
        401, google_error(401, "Request had invalid credentials.", "UNAUTHENTICATED"), {}, "poll",
        C, "upstream_config", None, id="401",
    ),
    pytest.param(
        403, google_error(403, "The caller does not have permission", "PERMISSION_DENIED"), {},
        "submit", C, "upstream_config", None, id="403",
    ),
    pytest.param(
        404, google_error(404, RETIRED, "NOT_FOUND"), {}, "submit", C, "upstream_config", None,
        id="404 retired model at submit",
    ),
    pytest.param(
        404, google_error(404, "not found", "NOT_FOUND"), {}, "model_check", C, "upstream_config",
        None, id="404 at model check",
    ),
    pytest.param(
        404, google_error(404, "Requested entity was not found.", "NOT_FOUND"), {}, "poll", P,
        "upstream_operation_lost", None, id="404 operation",
    ),
    pytest.param(
        404, google_error(404, "File not found", "NOT_FOUND"), {}, "download", P,
        "upstream_video_lost", None, id="404 expired file",
    ),
    pytest.param(
        403,
        google_error(403, "You do not have permission to access the File abc or it may not exist.",
                     "PERMISSION_DENIED"),
        {}, "download", P, "upstream_video_lost", None, id="403 expired gemini file",
    ),
    pytest.param(
        403,
        google_error(403, "Permission 'aiplatform.endpoints.predict' denied on resource "
                     "'//aiplatform.googleapis.com/projects/p' (or it may not exist).",
                     "PERMISSION_DENIED"),
        {}, "submit", C, "upstream_config", None, id="403 may-not-exist on submit is config",
    ),
    pytest.param(
        403, google_error(403, "Access denied.", "PERMISSION_DENIED"), {}, "download", C,
        "upstream_config", None, id="403 bucket permission is config",
    ),
    pytest.param(
        504, google_error(504, "Deadline exceeded", "DEADLINE_EXCEEDED"), {}, "submit", U, None,
        None, id="504 submit outcome unknown",
    ),
    pytest.param(
        504, google_error(504, "Deadline exceeded", "DEADLINE_EXCEEDED"), {}, "poll", T, None,
        None, id="504 poll transient",
    ),
    pytest.param(
        409, google_error(409, "Aborted", "ABORTED"), {}, "submit", P, "upstream_error", None,
        id="409 anything else",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("http_status", "body", "headers", "phase", "kind", "code", "retry_after_s"),
    CASES,
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
    body = google_error(
        400, f"API key {key} not valid. Please pass a valid API key.", "INVALID_ARGUMENT"
    )
    error = classify_status(400, {}, body, phase="submit", secrets=(key,))
    assert key not in error.message
    assert "[redacted]" in error.message
    assert scrub("x" * 10_000, ()) == "x" * 500


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b'{"error": "flat string"}', b"\xff\xfe"])
def test_odd_error_bodies_still_classify(body: bytes) -> None:
    assert isinstance(classify_status(503, {}, body, phase="poll"), UpstreamTransientError)
    assert classify_status(400, {}, body, phase="submit").code == "upstream_rejected"  # type: ignore[attr-defined]


REQUEST = httpx.Request("POST", "https://example.test/v1/x:predictLongRunning")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        # never sent: no connection was made, so a new submit cannot double a generation
        (httpx.ConnectError("refused", request=REQUEST), UpstreamTransientError),
        (httpx.ConnectTimeout("slow connect", request=REQUEST), UpstreamTransientError),
        (httpx.PoolTimeout("pool full", request=REQUEST), UpstreamTransientError),
        # sent, answer never read: the upstream may have accepted (and billed) it
        (httpx.ReadTimeout("timed out", request=REQUEST), UpstreamOutcomeUnknown),
        (httpx.WriteTimeout("timed out", request=REQUEST), UpstreamOutcomeUnknown),
        (httpx.ReadError("reset by peer", request=REQUEST), UpstreamOutcomeUnknown),
        (httpx.RemoteProtocolError("disconnected", request=REQUEST), UpstreamOutcomeUnknown),
        (httpx.TransportError("dropped"), UpstreamOutcomeUnknown),
        (httpx.TimeoutException("timed out", request=REQUEST), UpstreamOutcomeUnknown),
    ],
)
def test_a_submit_that_may_have_reached_the_upstream_has_an_unknown_outcome(
    exc: httpx.RequestError, kind: type[UpstreamError]
) -> None:
    assert type(classify_exception(exc, phase="submit")) is kind


@pytest.mark.parametrize("phase", ["poll", "download", "model_check"])
def test_the_same_errors_elsewhere_are_transient(phase: Phase) -> None:
    """Polls, downloads and model checks are free and idempotent: retrying them costs nothing."""
    error = classify_exception(httpx.ReadTimeout("timed out", request=REQUEST), phase=phase)
    assert type(error) is UpstreamTransientError
