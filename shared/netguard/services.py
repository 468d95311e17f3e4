"""The stack's own listeners, read from the settings: never a target of imageUrl or webhookUrl.

A webhook or an image fetch aimed at one of them turns the stack against itself: a test ping
to the simulator's `/_sim/reset` wiped every account's operations, and one to Redis was
stopped only by Redis's own guard. The allow list of non-public ranges (loopback in
development) is there for a developer's own receivers, never for these ports;
`addresses.check_host` refuses them whatever the allow list says.
"""

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from shared.settings import Settings, get_settings

# The port a URL means when it names none, by scheme (a driver suffix such as +psycopg aside).
DEFAULT_PORTS = {"http": 80, "https": 443, "redis": 6379, "rediss": 6379, "postgresql": 5432}


@dataclass(frozen=True)
class OwnService:
    """One listener of the stack: what users read it as, and where the settings say it is."""

    name: str
    host: str
    port: int

    @property
    def addresses(self) -> frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return host_addresses(self.host)


def _from_url(name: str, url: str) -> OwnService | None:
    """The service a URL points at; None for one without a host (SQLite, a Unix socket)."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.split("+", 1)[0])
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return OwnService(name, parts.hostname, port)


def own_services(settings: Settings) -> tuple[OwnService, ...]:
    """The gateway, the simulator, Flower, Redis (configured and embedded) and the database."""
    found = [
        OwnService("the API gateway", settings.gateway_host, settings.gateway_port),
        _from_url("the upstream simulator", settings.simulator_url),
        OwnService("the Flower dashboard", settings.flower_host, settings.flower_port),
        _from_url("Redis", settings.redis_url),
        OwnService("the embedded Redis", "127.0.0.1", settings.embedded_redis_port),
        _from_url("the database", settings.database_url),
    ]
    return tuple(service for service in found if service is not None)


def configured_services() -> tuple[OwnService, ...]:
    return own_services(get_settings())


@lru_cache(maxsize=64)
def host_addresses(host: str) -> frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses a service's host stands for; none if it does not resolve here.

    Resolved once per process, and only when a target uses the service's port at a public
    address (a non-public address at that port is refused without asking DNS).
    """
    try:
        return frozenset({ipaddress.ip_address(host.strip("[]"))})
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return frozenset()
    return frozenset(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos)
