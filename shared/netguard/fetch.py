"""Capped fetches of user-supplied URLs (imageUrl): checked, pinned, size-capped, deadlined.

Redirects are followed by hand, each hop checked again before it is connected to.
"""

import ssl
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import httpx

from shared.errors import FetchFailed
from shared.netguard.addresses import CheckedUrl, IPNetwork, check_url, parse_url
from shared.netguard.pinned import pinned_client, send_pinned

MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class FetchedBody:
    content: bytes
    content_type: str | None
    url: str  # after redirects


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    timeout_s: float
    allow: Sequence[IPNetwork] | None
    verify: ssl.SSLContext | bool


async def _read_capped(response: httpx.Response, limits: _Limits) -> bytes:
    too_large = FetchFailed(f"the response is larger than {limits.max_bytes} bytes")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise too_large
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limits.max_bytes:
            raise too_large
    return bytes(body)


async def _check_in_thread(url: httpx.URL, limits: _Limits) -> CheckedUrl:
    """DNS blocks: resolve in a thread, abandoned (not awaited) if the deadline passes."""

    def check() -> CheckedUrl:
        return check_url(url, allow=limits.allow)

    return await anyio.to_thread.run_sync(check, abandon_on_cancel=True)


async def _fetch(url: str, limits: _Limits) -> FetchedBody:
    current = parse_url(url)
    for _hop in range(MAX_REDIRECTS + 1):
        checked = await _check_in_thread(current, limits)
        # A fresh client per hop: a pooled connection must never carry another host's request.
        async with pinned_client(httpx.Timeout(limits.timeout_s), limits.verify) as client:
            response = await send_pinned(client, checked)
            try:
                if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                    current = checked.url.join(response.headers["location"])
                    continue
                if not 200 <= response.status_code < 300:
                    raise FetchFailed(f"the server answered HTTP {response.status_code}")
                content = await _read_capped(response, limits)
                return FetchedBody(content, response.headers.get("content-type"), str(checked.url))
            finally:
                await response.aclose()
    raise FetchFailed(f"more than {MAX_REDIRECTS} redirects")


async def fetch_limited(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    allow: Sequence[IPNetwork] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> FetchedBody:
    """GET a user-supplied URL safely: checked and pinned addresses, capped size, total deadline.

    Redirects (at most 3) are followed by hand, each hop checked again. A URL (or hop) the guard
    refuses raises UnsafeUrl, every other failure FetchFailed, both with the reason. `allow`
    overrides the setting; `verify` takes an SSLContext (tests trust their own CA with it);
    hostname verification stays on.
    """
    limits = _Limits(max_bytes, timeout_s, allow, verify)
    try:
        with anyio.fail_after(timeout_s):
            return await _fetch(url, limits)
    except TimeoutError as exc:
        raise FetchFailed(f"no complete answer within {timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        detail = str(exc) or type(exc).__name__
        raise FetchFailed(f"could not fetch the URL ({type(exc).__name__}: {detail})") from exc
    except httpx.InvalidURL as exc:
        raise FetchFailed("a redirect pointed to an invalid URL") from exc
