"""SSRF-safe outbound URLs: user-supplied `imageUrl` and `webhookUrl` may only reach the internet.

`check_url` resolves the host once and refuses it if any address is not public (loopback,
private, link-local, multicast, reserved, cloud metadata, or those hidden inside IPv6 forms);
it returns the checked addresses. `fetch_limited` then connects to a checked address itself,
never resolving the name again, so a DNS answer that changes between check and connect (DNS
rebinding) cannot redirect it. The original name still goes out as the Host header and, for
https, as the TLS SNI name that the certificate is verified against. Every redirect hop is
checked the same way. No proxy from the environment is used: a proxy would resolve the name.
`PinnedPoster` sends webhooks the same pinned way (no redirects followed).
"""

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import anyio
import httpx

from shared.errors import invalid
from shared.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 3
POST_RESPONSE_MAX_BYTES = 64 * 1024  # a webhook receiver's answer: only its status matters
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "veo-gateway/1.0"

# Answers of cloud instance-metadata services: credentials live there. Never allowed.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # embeds an IPv4 in its last 32 bits
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")  # site-specific translators only
IPV4_COMPAT = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d form


@dataclass(frozen=True)
class CheckedUrl:
    """A URL whose host resolved only to allowed addresses; connect to `addresses`, not DNS."""

    url: httpx.URL
    host: str  # IDNA-encoded name (or IP literal) for the Host header and TLS SNI
    addresses: tuple[str, ...]  # every resolved address, all checked, in resolver order

    @property
    def address(self) -> str:
        """The pinned address to connect to (the first the resolver preferred)."""
        return self.addresses[0]

    @property
    def host_is_ip(self) -> bool:
        return _parse_ip(self.host) is not None


@dataclass(frozen=True)
class FetchedBody:
    content: bytes
    content_type: str | None
    url: str  # after redirects


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


@lru_cache(maxsize=8)
def parse_cidrs(spec: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (`outbound_allow_cidrs`) as networks; blanks are skipped."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()
    )


def configured_allow_list() -> tuple[IPNetwork, ...]:
    return parse_cidrs(get_settings().outbound_allow_cidrs or "")


def _unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address really is to the OS (::ffff:a.b.c.d, ::a.b.c.d)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in IPV4_COMPAT and int(ip) > 1:  # :: and ::1 are not IPv4-compatible forms
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _public_ipv4_reason(ip: ipaddress.IPv4Address) -> str | None:
    """Why an IPv4 address is not a public unicast address (None when it is)."""
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        (ip.is_link_local, "a link-local address"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_multicast, "a multicast address"),
        (ip in CGNAT, "a shared (CGNAT) address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _public_ipv6_reason(ip: ipaddress.IPv6Address) -> str | None:
    """Why an IPv6 address is not public; IPv4 addresses embedded by NAT64/6to4 are checked too."""
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip in NAT64_WELL_KNOWN:
        inner = _public_ipv4_reason(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        return f"NAT64 of {inner}" if inner else None  # the prefix itself sits in reserved ::/8
    if ip in NAT64_LOCAL_USE:
        return "a local-use NAT64 address"
    if ip.sixtofour is not None and (inner := _public_ipv4_reason(ip.sixtofour)):
        return f"6to4 of {inner}"
    if ip.teredo is not None:
        return "a Teredo address"
    checks = (
        (ip.is_link_local, "a link-local address"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_site_local, "a site-local address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def refusal_reason(address: IPAddress | str, allow: Sequence[IPNetwork] = ()) -> str | None:
    """Why connecting to `address` is refused, or None. Pure: the unit tests' table drives it.

    `allow` lets chosen non-public ranges through (a developer's localhost receiver), but
    link-local and cloud-metadata addresses stay refused whatever it says.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    effective = _unwrap(ip)
    if effective in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if effective.is_link_local:
        return "a link-local address"
    if any(effective.version == net.version and effective in net for net in allow):
        return None
    if isinstance(effective, ipaddress.IPv4Address):
        return _public_ipv4_reason(effective)
    return _public_ipv6_reason(effective)


def _resolve(host: str, port: int, field: str) -> tuple[str, ...]:
    """Every address the host resolves to (getaddrinfo also reads 127.1, 0x7f.1, 2130706433)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise invalid(field, f"host '{host}' could not be resolved") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise invalid(field, f"host '{host}' could not be resolved")
    return tuple(addresses)


def _parse_url(url: str | httpx.URL, field: str) -> httpx.URL:
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise invalid(field, "not a valid URL") from exc
    if parsed.scheme not in ("http", "https"):
        raise invalid(field, "only http and https URLs are allowed")
    if parsed.userinfo:
        raise invalid(field, "credentials in the URL are not allowed")
    if not parsed.raw_host:
        raise invalid(field, "the URL has no host")
    return parsed


def check_url(
    url: str | httpx.URL, *, field: str = "url", allow: Sequence[IPNetwork] | None = None
) -> CheckedUrl:
    """Refuse URLs that could reach anything but the public internet; return the checked addresses.

    `allow` defaults to the `outbound_allow_cidrs` setting. Raises the 1000 error for `field`.
    Blocking (DNS): call it from a thread in async code.
    """
    parsed = _parse_url(url, field)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return CheckedUrl(
        url=parsed, host=host, addresses=check_host(host, port, field=field, allow=allow)
    )


def check_host(
    host: str, port: int, *, field: str, allow: Sequence[IPNetwork] | None = None
) -> tuple[str, ...]:
    """Resolve `host` and refuse it if ANY address is refused; the addresses, all checked."""
    networks = configured_allow_list() if allow is None else allow
    literal = _parse_ip(host)
    addresses = (str(literal),) if literal is not None else _resolve(host, port, field)
    for address in addresses:
        reason = refusal_reason(address, networks)
        if reason is not None:
            shown = host if address == host else f"{host} ({address})"
            raise invalid(field, f"host {shown} is {reason}; only public addresses are allowed")
    return addresses


def _pinned_request(
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
    sent = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
    sent["Host"] = checked.url.netloc.decode("ascii")
    target = checked.url.copy_with(host=address)
    return client.build_request(
        method, target, content=content, headers=sent, extensions=extensions
    )


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    timeout_s: float
    field: str
    allow: Sequence[IPNetwork] | None
    verify: ssl.SSLContext | bool


@lru_cache(maxsize=1)
def default_ssl_context() -> ssl.SSLContext:
    """What httpx builds for `verify=True` (certifi's CA bundle, hostname checks), built once.

    Building it loads the whole CA bundle: about 25 ms of CPU, which was most of the cost of a
    webhook delivery when every fresh client built its own. SSLContext is safe to share.
    """
    return httpx.create_ssl_context(verify=True, trust_env=False)


def _ssl_context(verify: ssl.SSLContext | bool) -> ssl.SSLContext | bool:
    return default_ssl_context() if verify is True else verify


async def _read_capped(response: httpx.Response, limits: _Limits) -> bytes:
    too_large = invalid(limits.field, f"the response is larger than {limits.max_bytes} bytes")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise too_large
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limits.max_bytes:
            raise too_large
    return bytes(body)


async def _send_pinned(
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
        request = _pinned_request(
            client, checked, address, method=method, content=content, headers=headers
        )
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            last_error = exc
    assert last_error is not None
    raise last_error


async def _check_in_thread(url: httpx.URL, limits: _Limits) -> CheckedUrl:
    """DNS blocks: resolve in a thread, abandoned (not awaited) if the deadline passes."""

    def check() -> CheckedUrl:
        return check_url(url, field=limits.field, allow=limits.allow)

    return await anyio.to_thread.run_sync(check, abandon_on_cancel=True)


async def _fetch(url: str, limits: _Limits) -> FetchedBody:
    current = _parse_url(url, limits.field)
    for _hop in range(MAX_REDIRECTS + 1):
        checked = await _check_in_thread(current, limits)
        # A fresh client per hop: a pooled connection must never carry another host's request.
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(limits.timeout_s),
            verify=_ssl_context(limits.verify),
            trust_env=False,
            follow_redirects=False,
        ) as client:
            response = await _send_pinned(client, checked)
            try:
                if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                    current = checked.url.join(response.headers["location"])
                    continue
                if not 200 <= response.status_code < 300:
                    raise invalid(limits.field, f"the server answered HTTP {response.status_code}")
                content = await _read_capped(response, limits)
                return FetchedBody(content, response.headers.get("content-type"), str(checked.url))
            finally:
                await response.aclose()
    raise invalid(limits.field, f"more than {MAX_REDIRECTS} redirects")


async def fetch_limited(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    field: str,
    allow: Sequence[IPNetwork] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> FetchedBody:
    """GET a user-supplied URL safely: checked and pinned addresses, capped size, total deadline.

    Redirects (at most 3) are followed by hand, each hop checked again. Every failure is the
    1000 error for `field` with the reason. `allow` overrides the setting; `verify` takes an
    SSLContext (tests trust their own CA with it); hostname verification stays on.
    """
    limits = _Limits(max_bytes, timeout_s, field, allow, verify)
    try:
        with anyio.fail_after(timeout_s):
            return await _fetch(url, limits)
    except TimeoutError as exc:
        raise invalid(field, f"no complete answer within {timeout_s:g} s") from exc
    except httpx.HTTPError as exc:
        detail = str(exc) or type(exc).__name__
        raise invalid(field, f"could not fetch the URL ({type(exc).__name__}: {detail})") from exc
    except httpx.InvalidURL as exc:
        raise invalid(field, "a redirect pointed to an invalid URL") from exc


def fetch_limited_sync(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float,
    field: str,
    allow: Sequence[IPNetwork] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> FetchedBody:
    """`fetch_limited` for synchronous callers that have no event loop running."""

    async def call() -> FetchedBody:
        return await fetch_limited(
            url, max_bytes=max_bytes, timeout_s=timeout_s, field=field, allow=allow, verify=verify
        )

    return anyio.run(call)


async def _post(
    client: httpx.AsyncClient, checked: CheckedUrl, content: bytes, headers: Mapping[str, str]
) -> httpx.Response:
    response = await _send_pinned(client, checked, method="POST", content=content, headers=headers)
    try:
        received = 0
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > POST_RESPONSE_MAX_BYTES:
                break  # the rest is never read: the status code is the answer
    finally:
        await response.aclose()
    return response


class PinnedPoster:
    """POSTs to checked, pinned addresses (webhook deliveries), synchronously: see `post`.

    One event loop for the poster's life and one client per URL, so the deliveries of a group
    to one endpoint share a connection: a fresh loop, client and TCP connection per delivery
    were most of a delivery's CPU. A URL is checked once per poster (a delivery task's few
    seconds); a client that failed is dropped, so an error never leaves a connection half used.
    """

    def __init__(
        self,
        *,
        connect_timeout_s: float,
        timeout_s: float,
        field: str,
        allow: Sequence[IPNetwork] | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.timeout_s = timeout_s
        self.field = field
        self.allow = allow
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._verify = verify
        self._runner: asyncio.Runner | None = None
        self._clients: dict[str, tuple[CheckedUrl, httpx.AsyncClient]] = {}

    def __enter__(self) -> "PinnedPoster":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POST once; redirects are not followed (a 3xx is the receiver's answer).

        Only a refusal by the guard raises the 1000 error (retrying cannot help); network
        failures raise httpx errors or TimeoutError (worth a retry). `timeout_s` bounds the
        whole exchange, so a slow drip cannot hold the worker. The response's body is read up
        to 64 KiB and then dropped.
        """
        if url not in self._clients:
            checked = check_url(url, field=self.field, allow=self.allow)
            client = httpx.AsyncClient(
                timeout=self._timeout,
                verify=_ssl_context(self._verify),
                trust_env=False,
                follow_redirects=False,
            )
            self._clients[url] = (checked, client)
        checked, client = self._clients[url]

        async def call() -> httpx.Response:
            with anyio.fail_after(self.timeout_s):
                return await _post(client, checked, content, headers)

        if self._runner is None:
            self._runner = asyncio.Runner()
        try:
            return self._runner.run(call())
        except BaseException as exc:
            del self._clients[url]
            with contextlib.suppress(Exception):  # the original error is the one worth raising
                self._runner.run(client.aclose())
            if isinstance(exc, TimeoutError):
                raise TimeoutError(f"no complete answer within {self.timeout_s:g} s") from exc
            raise

    def close(self) -> None:
        """Close the clients, then the loop (which cancels anything an error left running)."""
        clients, self._clients = list(self._clients.values()), {}
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            for _, client in clients:
                runner.run(client.aclose())
        finally:
            runner.close()


def post_pinned(
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    connect_timeout_s: float,
    timeout_s: float,
    field: str,
    allow: Sequence[IPNetwork] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.Response:
    """One POST with a poster of its own (`PinnedPoster.post`)."""
    poster = PinnedPoster(
        connect_timeout_s=connect_timeout_s,
        timeout_s=timeout_s,
        field=field,
        allow=allow,
        verify=verify,
    )
    with poster:
        return poster.post(url, content=content, headers=headers)
