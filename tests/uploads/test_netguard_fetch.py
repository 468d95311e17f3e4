"""fetch_limited against a real HTTP(S) server on loopback: redirects, caps, deadlines, TLS."""

import ssl
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from shared.errors import FetchFailed, NetguardError, UnsafeUrl
from shared.netguard.addresses import IPNetwork, parse_cidrs
from shared.netguard.fetch import FetchedBody, fetch_limited
from tests.uploads.servers import LOOPBACK, PAYLOAD, Pki, Seen, serve


def fetch(
    url: str,
    *,
    allow: Sequence[IPNetwork] = LOOPBACK,
    max_bytes: int = 1_000_000,
    timeout_s: float = 5.0,
    verify: ssl.SSLContext | bool = True,
) -> FetchedBody:
    async def call() -> FetchedBody:
        return await fetch_limited(
            url,
            max_bytes=max_bytes,
            timeout_s=timeout_s,
            allow=allow,
            verify=verify,
        )

    return anyio.run(call)


def refusal(url: str, kind: type[NetguardError] = NetguardError, **kw: Any) -> str:
    with pytest.raises(kind) as caught:
        fetch(url, **kw)
    assert str(caught.value) == caught.value.reason  # names no field: the caller maps it
    return caught.value.reason


def test_fetches_allowed_loopback(server: tuple[str, Seen]) -> None:
    base, seen = server
    body = fetch(f"{base}/image")
    assert body.content == PAYLOAD
    assert body.content_type == "image/png"
    assert seen.hosts[-1] == base.removeprefix("http://")


def test_loopback_refused_when_not_allowed(server: tuple[str, Seen]) -> None:
    base, _ = server
    assert "loopback" in refusal(f"{base}/image", allow=())


def test_redirect_to_loopback_refused_when_not_allowed(server: tuple[str, Seen]) -> None:
    """Only 127.0.0.2 is allowed: its redirect to 127.0.0.1 is checked again and refused."""
    base, target_seen = server
    before = len(target_seen.hosts)
    with serve(host="127.0.0.2") as (port, first_seen):
        reason = refusal(
            f"http://127.0.0.2:{port}/redirect?to={base}/image", allow=parse_cidrs("127.0.0.2/32")
        )
    assert "loopback" in reason
    assert len(first_seen.hosts) == 1
    assert len(target_seen.hosts) == before  # the redirect target was never requested


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://10.0.0.1/x", "a private address"),
        ("http://[::ffff:169.254.169.254]/", "a cloud metadata address"),
        ("http://0x7f000001/", "a loopback address"),
        ("http://100.64.1.1/", "CGNAT"),
    ],
)
def test_redirect_to_non_public_refused(target: str, reason: str) -> None:
    with serve(host="127.0.0.2") as (port, _):
        got = refusal(
            f"http://127.0.0.2:{port}/redirect?to={target}", allow=parse_cidrs("127.0.0.2/32")
        )
    assert reason in got


def test_redirect_to_other_scheme_refused(server: tuple[str, Seen]) -> None:
    base, _ = server
    assert "only http and https" in refusal(f"{base}/redirect?to=file:///etc/passwd")


def test_follows_three_redirects_but_not_four(server: tuple[str, Seen]) -> None:
    base, _ = server
    assert fetch(f"{base}/loop?n=3").content == PAYLOAD
    assert "more than 3 redirects" in refusal(f"{base}/loop?n=4")


def test_non_2xx_refused(server: tuple[str, Seen]) -> None:
    base, _ = server
    assert "HTTP 404" in refusal(f"{base}/status?code=404")
    assert "HTTP 500" in refusal(f"{base}/status?code=500")


def test_declared_oversize_refused_before_reading(server: tuple[str, Seen]) -> None:
    base, _ = server
    assert "larger than 1000 bytes" in refusal(
        f"{base}/declared-big?size=5000000000", max_bytes=1000
    )


def test_streamed_oversize_refused_while_counting(server: tuple[str, Seen]) -> None:
    base, _ = server
    started = time.monotonic()
    assert "larger than 100000 bytes" in refusal(
        f"{base}/chunked-big?chunks=100000", max_bytes=100_000
    )
    assert time.monotonic() - started < 2  # stopped early, not after 1.6 GB


def test_slow_drip_cut_off_by_total_deadline(server: tuple[str, Seen]) -> None:
    base, _ = server
    started = time.monotonic()
    assert "within 0.5 s" in refusal(f"{base}/drip?every=0.02", timeout_s=0.5)
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/a.png", "only http and https"),
        ("http://user:pw@127.0.0.1/a.png", "credentials"),
        ("http://0177.0.0.1/", "not a valid URL"),
    ],
)
def test_bad_urls_refused_before_connecting(url: str, reason: str) -> None:
    assert reason in refusal(url)


def test_connection_refused_is_a_clear_error() -> None:
    with serve() as (port, _):
        pass  # the port is free again
    assert "could not fetch the URL" in refusal(f"http://127.0.0.1:{port}/image")


def test_guard_refusals_and_failed_answers_are_told_apart(server: tuple[str, Seen]) -> None:
    base, _ = server
    assert "loopback" in refusal(f"{base}/image", UnsafeUrl, allow=())
    assert "private" in refusal(f"{base}/redirect?to=http://10.0.0.1/x", UnsafeUrl)
    assert "HTTP 404" in refusal(f"{base}/status?code=404", FetchFailed)
    assert "redirects" in refusal(f"{base}/loop?n=4", FetchFailed)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(Path(tmp_path_factory.mktemp("pki")))


def test_https_pins_address_and_verifies_certificate_for_the_hostname(pki: Pki) -> None:
    """Connects to the checked 127.0.0.1, sends SNI 'localhost', and the cert must match it."""
    with serve(tls=pki.server_context(["localhost"])) as (port, seen):
        body = fetch(f"https://localhost:{port}/image", verify=pki.client_context())
    assert body.content == PAYLOAD
    assert seen.sni == ["localhost"]
    assert seen.hosts == [f"localhost:{port}"]


def test_https_certificate_for_another_name_is_refused(pki: Pki) -> None:
    """Connecting by IP must not weaken verification: a cert for another name fails."""
    with serve(tls=pki.server_context(["images.example"])) as (port, seen):
        reason = refusal(f"https://localhost:{port}/image", verify=pki.client_context())
    assert "certificate" in reason.lower() or "hostname" in reason.lower()
    assert seen.hosts == []


def test_https_untrusted_certificate_is_refused(pki: Pki, tmp_path: Path) -> None:
    stranger = Pki.create(tmp_path)
    with serve(tls=stranger.server_context(["localhost"])) as (port, _):
        reason = refusal(f"https://localhost:{port}/image", verify=pki.client_context())
    assert "certificate" in reason.lower()
