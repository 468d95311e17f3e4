"""What the log filter removes, and what it leaves alone (shared/log_redaction.py)."""

import logging
import sys

import pytest

from shared.log_redaction import REDACTED, RedactSecrets

KEY = "veo_" + "Zq3-_x" * 7 + "a"
redactor = RedactSecrets(["configured-secret-value"])


def _record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"GET /x?api_key={KEY}", "GET /x?api_key="),
        (f"Authorization: Bearer {KEY}", "Authorization: "),
        (f"bearer {KEY}", "bearer "),
        (f"http://user:{KEY}@example.com/hook", "http://"),
        ("https://b.s3.amazonaws.com/v.mp4?X-Amz-Credential=AK%2F1&X-Amz-Signature=f00d", "v.mp4?"),
        ("https://storage.googleapis.com/b/o?GoogleAccessId=a&Signature=f00d", "GoogleAccessId=a"),
        ("{'x-goog-api-key': 'AIzaSyA-0123456789abcdefghijklmnopqrstu'}", "x-goog-api-key"),
        ("redis://:configured-secret-value@127.0.0.1:6379/0", "127.0.0.1:6379"),
        ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La", "secret whsec_"),
    ],
)  # fmt: skip
def test_secrets_are_replaced_and_their_names_kept(text: str, kept: str) -> None:
    """Each secret becomes [redacted]; what says where it was stays readable."""
    cleaned = redactor.redact(text)
    assert REDACTED in cleaned
    assert kept in cleaned
    for secret in (KEY, "f00d", "AK%2F1", "AIzaSy", "configured-secret-value", "MfKQ9r8"):
        assert secret not in cleaned


def test_ordinary_lines_are_left_exactly_as_they_were() -> None:
    """Ids, counts and key ids are not secrets: a record without a secret is not touched."""
    record = _record("worker.tasks.poll", "job %s polled %d times (key_id=%s)", "abc", 3, 7)
    redactor.filter(record)
    assert (record.msg, record.args) == ("job %s polled %d times (key_id=%s)", ("abc", 3, 7))


def test_an_access_log_line_loses_its_query_and_keeps_its_arguments() -> None:
    """uvicorn's formatter unpacks the arguments: they stay five, without the query string."""
    args = ("127.0.0.1:5000", "GET", f"/api/video-status/x?limit=5&q={KEY}", "1.1", 401)
    record = _record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', *args)
    redactor.filter(record)
    assert (
        record.getMessage() == '127.0.0.1:5000 - "GET /api/video-status/x?[redacted] HTTP/1.1" 401'
    )


def test_a_percent_encoded_key_in_an_access_logs_path_is_removed() -> None:
    """Decoded, a path segment that is a key goes too."""
    path = "/api/video-status/" + KEY.replace("_", "%5F").replace("-", "%2D")
    record = _record("uvicorn.access", "%s", path)
    redactor.filter(record)
    assert record.getMessage() == "/api/video-status/" + REDACTED


def test_a_traceback_holding_a_secret_is_cleaned() -> None:
    """The exception text is formatted once, cleaned, and kept for the handlers."""
    try:
        raise RuntimeError(f"GET https://h.example/v1?key={KEY}")
    except RuntimeError:
        record = logging.LogRecord("w", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    redactor.filter(record)
    assert record.exc_text is not None
    assert "RuntimeError" in record.exc_text
    assert KEY not in record.exc_text


def test_a_broken_format_is_left_for_the_handler_to_report() -> None:
    """Redaction never raises into the code that logs."""
    record = _record("x", "%d items", "not a number")
    assert redactor.filter(record) is True
