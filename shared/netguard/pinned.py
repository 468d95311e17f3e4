"""Connecting to a checked address, never to what DNS says now: shared by fetch and post.

The request goes to the pinned IP while the original name goes out as the Host header and, for
https, as the TLS SNI name the certificate is verified against. Clients ignore the environment's
proxy settings (a proxy would resolve the name) and follow no redirect by themselves.
"""

import ssl
from collections.abc import Mapping
from functools import lru_cache

import httpx

from shared.netguard.addresses import CheckedUrl

USER_AGENT = "veo-gateway/1.0"


@lru_cache(maxsize=1)
def default_ssl_context() -> ssl.SSLContext:
    """What httpx builds for `verify=True` (certifi's CA bundle, hostname checks), built once.

    Building it loads the whole CA bundle: about 25 ms of CPU, which was most of the cost of a
    webhook delivery when every fresh client built its own. SSLContext is safe to share.
    """
    return httpx.create_ssl_context(verify=True, trust_env=False)


def pinned_client(timeout: httpx.Timeout, verify: ssl.SSLContext | bool) -> httpx.AsyncClient:
    """A client for pinned requests; `verify=True` shares `default_ssl_context()`."""
    return httpx.AsyncClient(
        timeout=timeout,
        verify=default_ssl_context() if verify is True else verify,
        trust_env=False,
        follow_redirects=False,
    )


def pinned_request(
    client: httpx.AsyncClient,
    checked: CheckedUrl,
    address: str,
    *,
    method: str = "GET",
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Request:
    """A request to the checked address carrying the original Host header and TLS server name."""
    extensions: dict[str, str] = {}
    if checked.url.scheme == "https" and not checked.host_is_ip:
        # httpcore passes this as server_hostname to the TLS handshake: it is sent as SNI and,
        # with the default context's check_hostname, the certificate must match this name.
        extensions["sni_hostname"] = checked.host
    # Merged by name whatever the case (httpx.Headers): the caller's `user-agent` replaces the
    # default `User-Agent` instead of going out as a second one.
    sent = httpx.Headers({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    sent.update(headers or {})
    sent["Host"] = checked.url.netloc.decode("ascii")
    target = checked.url.copy_with(host=address)
    return client.build_request(
        method, target, content=content, headers=sent, extensions=extensions
    )


async def send_pinned(
    client: httpx.AsyncClient,
    checked: CheckedUrl,
    *,
    method: str = "GET",
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """Send to each checked address in turn until one accepts the connection (streamed)."""
    last_error: httpx.ConnectError | None = None
    for address in checked.addresses:
        request = pinned_request(
            client, checked, address, method=method, content=content, headers=headers
        )
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            last_error = exc
    assert last_error is not None
    raise last_error
