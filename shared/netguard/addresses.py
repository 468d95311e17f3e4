"""Which outbound addresses are safe: URL checks, DNS resolution, non-public ranges, allow list.

`refusal_reason` is the pure decision for one address; `check_url` parses a URL, resolves its
host once and refuses it if ANY address is refused, returning the addresses to pin. The allow
list (`outbound_allow_cidrs`) lets chosen non-public ranges through: loopback by default in
development, so a developer's receiver on localhost works; nothing in production. Whatever it
allows, the stack's own listeners (`services`: gateway, simulator, Flower, Redis, database)
stay refused: `own_service` is that decision for one address and port.
"""

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import httpx

from shared.errors import UnsafeUrl
from shared.netguard.services import OwnService, configured_services
from shared.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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


def own_service(
    address: IPAddress | str, port: int, services: Sequence[OwnService]
) -> OwnService | None:
    """The stack's own service that `address:port` may reach, or None. Pure but for DNS of a
    service's host name, which is asked only for a public address at that service's port.

    At a service's port, every non-public address counts as the service's (it may listen on
    all of them, 0.0.0.0 or a container network), and so do the addresses of its host.
    """
    ip = _unwrap(ipaddress.ip_address(address) if isinstance(address, str) else address)
    for service in services:
        if service.port == port and (
            refusal_reason(ip) is not None or ip in {_unwrap(a) for a in service.addresses}
        ):
            return service
    return None


def _resolve(host: str, port: int) -> tuple[str, ...]:
    """Every address the host resolves to (getaddrinfo also reads 127.1, 0x7f.1, 2130706433)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"host '{host}' could not be resolved") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeUrl(f"host '{host}' could not be resolved")
    return tuple(addresses)


def parse_url(url: str | httpx.URL) -> httpx.URL:
    """The URL parsed, if it is http(s) with a host and no credentials; raises UnsafeUrl."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UnsafeUrl("not a valid URL") from exc
    if parsed.scheme not in ("http", "https"):
        raise UnsafeUrl("only http and https URLs are allowed")
    if parsed.userinfo:
        raise UnsafeUrl("credentials in the URL are not allowed")
    if not parsed.raw_host:
        raise UnsafeUrl("the URL has no host")
    return parsed


def check_url(
    url: str | httpx.URL,
    *,
    allow: Sequence[IPNetwork] | None = None,
    own: Sequence[OwnService] | None = None,
) -> CheckedUrl:
    """Refuse URLs that could reach anything but the public internet or that reach the stack's
    own services; return the checked addresses.

    `allow` defaults to the `outbound_allow_cidrs` setting, `own` to the services the settings
    name. Raises UnsafeUrl with the reason. Blocking (DNS): call it from a thread in async code.
    """
    parsed = parse_url(url)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = check_host(host, port, allow=allow, own=own)
    return CheckedUrl(url=parsed, host=host, addresses=addresses)


def check_host(
    host: str,
    port: int,
    *,
    allow: Sequence[IPNetwork] | None = None,
    own: Sequence[OwnService] | None = None,
) -> tuple[str, ...]:
    """Resolve `host` and refuse it if ANY address is refused; the addresses, all checked.

    `own` (the stack's own services) defaults to those the settings name.
    """
    networks = configured_allow_list() if allow is None else allow
    services = configured_services() if own is None else own
    literal = _parse_ip(host)
    addresses = (str(literal),) if literal is not None else _resolve(host, port)
    for address in addresses:
        shown = host if address == host else f"{host} ({address})"
        reason = refusal_reason(address, networks)
        if reason is not None:
            raise UnsafeUrl(f"host {shown} is {reason}; only public addresses are allowed")
        service = own_service(address, port, services)
        if service is not None:
            raise UnsafeUrl(
                f"port {port} of {shown} is {service.name} of this API; "
                "the API's own services are never valid targets"
            )
    return addresses
