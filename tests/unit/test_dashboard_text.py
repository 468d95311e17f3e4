"""The dashboard shows user text as text: escaped, and with reordering or invisible characters
spelled out; its cookies are refused once altered."""

import pytest

from api_gateway.dashboard.web import render, visible


def test_bidi_overrides_and_controls_are_spelled_out() -> None:
    assert visible("abc\u202edcba\u2066x\u200b\x1b[31m\x07") == (
        "abc<U+202E>dcba<U+2066>x<U+200B><U+001B>[31m<U+0007>"
    )
    assert visible("line one\nline two\t\u05ea\u05d5") == "line one\nline two\t\u05ea\u05d5"
    assert visible(None) == ""


def test_a_prompt_full_of_html_renders_as_text() -> None:
    video = {
        "uuid": "u-1",
        "status": "failed",
        "progress": 0,
        "estimatedTime": 0,
        "prompt": '<script>alert(1)</script><img src=x onerror=alert(2)>"\u202e',
        "generationType": "text_to_video",
        "aspectRatio": "auto",
        "createdAt": "2026-01-01T00:00:00Z",
        "error": "<b>upstream</b>",
        "errorCode": "E",
    }
    page = {"items": [video], "nextCursor": None, "refunds": {"u-1": 2}}
    session = {"csrf": "t", "account_id": "a"}
    html = render(
        "videos.html", session=session, page=page, terminal={"failed"}, first_page=True
    ).body.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;U+202E&gt;" in html
    assert "&lt;b&gt;upstream&lt;/b&gt;" in html
    assert "Refunded 2 credits" in html


@pytest.mark.parametrize("cookie", ["", "abc", "abc.", "abc.0000", ".sig"])
def test_an_unsigned_or_altered_cookie_is_nothing(cookie: str, quiet_stack: object) -> None:
    from api_gateway.dashboard.sessions import signed, unsigned

    assert unsigned(cookie) is None
    good = signed("session-id")
    assert unsigned(good) == "session-id"
    assert unsigned(good[:-1] + ("0" if good[-1] != "0" else "1")) is None
