"""PinnedPoster (webhook delivery) against a real HTTP server: guard refusals vs retryable ones."""

import time
from collections.abc import Sequence

import httpx
import pytest

from shared.errors import UnsafeUrl
from shared.netguard.addresses import IPNetwork
from shared.netguard.post import PinnedPoster
from tests.uploads.servers import LOOPBACK, Seen, serve


def post(
    url: str, *, allow: Sequence[IPNetwork] = LOOPBACK, timeout_s: float = 5.0
) -> httpx.Response:
    with PinnedPoster(connect_timeout_s=1.0, timeout_s=timeout_s, allow=allow) as poster:
        return poster.post(
            url,
            content=b'{"type":"video.completed"}',
            headers={"Content-Type": "application/json", "webhook-id": "msg_1"},
        )


def test_posts_body_and_headers(server: tuple[str, Seen]) -> None:
    base, seen = server
    response = post(f"{base}/image?n=1")
    assert response.status_code == 200
    assert response.is_success
    path, headers, body = seen.posts[-1]
    assert path == "/image?n=1"
    assert body == b'{"type":"video.completed"}'
    assert headers["webhook-id"] == "msg_1"
    assert headers["Host"] == base.removeprefix("http://")


def test_status_is_returned_not_raised(server: tuple[str, Seen]) -> None:
    base, _ = server
    assert post(f"{base}/status?code=503").status_code == 503


def test_redirects_are_not_followed(server: tuple[str, Seen]) -> None:
    base, seen = server
    before = len(seen.posts)
    response = post(f"{base}/redirect?to=http://10.0.0.1/")
    assert response.status_code == 302
    assert len(seen.posts) == before + 1


def test_guard_refusal_is_unsafe_url(server: tuple[str, Seen]) -> None:
    base, _ = server
    with pytest.raises(UnsafeUrl) as caught:
        post(f"{base}/image", allow=())
    assert "loopback" in caught.value.reason


def test_network_failure_is_not_a_guard_refusal() -> None:
    """A receiver that is down is worth retrying: not the guard's UnsafeUrl."""
    with serve() as (port, _):
        pass
    with pytest.raises(httpx.ConnectError):
        post(f"http://127.0.0.1:{port}/image")


def test_slow_drip_answer_is_cut_off(server: tuple[str, Seen]) -> None:
    base, _ = server
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"within 0\.4 s"):
        post(f"{base}/drip?every=0.02", timeout_s=0.4)
    assert time.monotonic() - started < 1.5
