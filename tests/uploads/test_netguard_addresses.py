"""Address classification for outbound URLs: a table of spellings that must (not) get through."""

import ipaddress

import httpx
import pytest

from shared.errors import UnsafeUrl
from shared.netguard.addresses import (
    CheckedUrl,
    check_host,
    check_url,
    own_service,
    parse_cidrs,
    refusal_reason,
)
from shared.netguard.pinned import pinned_request
from shared.netguard.services import OwnService, own_services
from shared.settings import Settings
from tests.support.settings import ExplicitSettings

LOOPBACK_ALLOWED = parse_cidrs("127.0.0.0/8,::1/128")
EVERYTHING_ALLOWED = parse_cidrs("0.0.0.0/0,::/0")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),  # IPv4-mapped form of a public address
        ("64:ff9b::808:808", None),  # NAT64 of a public address
        ("2002:808:808::1", None),  # 6to4 of a public address
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:7f00:1", "loopback"),  # the same, hex spelling
        ("::127.0.0.1", "loopback"),  # deprecated IPv4-compatible form
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("fc00::1", "private"),  # ULA
        ("fd12:3456::1", "private"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("::ffff:169.254.1.1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("::ffff:169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("fec0::1", "site-local"),
        ("64:ff9b::7f00:1", "NAT64 of a loopback"),
        ("64:ff9b::a00:1", "NAT64 of a private"),
        ("64:ff9b::a9fe:a9fe", "NAT64 of a cloud metadata"),
        ("64:ff9b:1::a00:1", "local-use NAT64"),
        ("2002:7f00:1::1", "6to4 of a loopback"),
        ("2002:c0a8:101::1", "6to4 of a private"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("192.0.2.1", "private"),  # documentation range (TEST-NET-1)
        ("2001:db8::1", "private"),  # documentation range
        ("198.18.0.1", "private"),  # benchmarking
    ],
)
def test_classification(address: str, reason: str | None) -> None:
    got = refusal_reason(address)
    if reason is None:
        assert got is None
    else:
        assert got is not None
        assert reason in got


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.9.9.9"])
def test_allow_list_lets_loopback_through(address: str) -> None:
    assert refusal_reason(address, LOOPBACK_ALLOWED) is None


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.7.7", "fe80::1"]
)
def test_link_local_and_metadata_refused_even_when_allowed(address: str) -> None:
    assert refusal_reason(address, EVERYTHING_ALLOWED) is not None


def test_allow_list_does_not_open_other_ranges() -> None:
    assert refusal_reason("10.0.0.1", LOOPBACK_ALLOWED) == "a private address"


# Every spelling of 127.0.0.1 that the system resolver (inet_aton rules) understands.
LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "2130706433",  # decimal
    "0177.0.0.1",  # octal
    "017700000001",  # octal, whole
    "0x7f.0.0.1",  # hex
    "0x7f000001",  # hex, whole
    "127.1",  # short
    "127.0.1",
    "localhost",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_loopback_spelling_is_refused(host: str) -> None:
    with pytest.raises(UnsafeUrl) as caught:
        check_host(host, 80, allow=())
    assert "loopback" in caught.value.reason


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_loopback_spelling_passes_the_dev_allow_list(host: str) -> None:
    addresses = check_host(host, 80, allow=LOOPBACK_ALLOWED)
    assert all(
        ipaddress.ip_address(a.split("%")[0]).is_loopback or a.startswith("::ffff:")
        for a in addresses
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/a.png", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("http://user:secret@8.8.8.8/a.png", "credentials"),
        ("http://user@8.8.8.8/a.png", "credentials"),
        ("http:///a.png", "no host"),
        ("http://[::1/", "not a valid URL"),
        ("http://no-such-host.invalid/a.png", "could not be resolved"),
        ("http://2130706433/a.png", "loopback"),
        ("http://127.1:8080/a.png", "loopback"),
        ("http://[::ffff:7f00:1]/a.png", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://[fd00:ec2::254]/", "metadata"),
    ],
)
def test_check_url_refusals(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl) as caught:
        check_url(url, allow=())
    assert reason in caught.value.reason
    assert str(caught.value) == caught.value.reason  # names no field: each caller maps it


def test_check_url_returns_pinned_public_address() -> None:
    checked = check_url("https://8.8.8.8:8443/x.png?a=1", allow=())
    assert checked.address == "8.8.8.8"
    assert checked.host_is_ip


def test_pinned_request_connects_to_the_address_but_names_the_host() -> None:
    """The request goes to the checked IP; Host header and TLS SNI keep the original name."""
    checked = CheckedUrl(
        url=httpx.URL("https://images.example:8443/a.png?x=1"),
        host="images.example",
        addresses=("93.184.216.34",),
    )
    request = pinned_request(httpx.AsyncClient(), checked, checked.address)
    assert request.url.host == "93.184.216.34"
    assert request.url.port == 8443
    assert request.url.raw_path == b"/a.png?x=1"
    assert request.headers["Host"] == "images.example:8443"
    assert request.extensions["sni_hostname"] == "images.example"


def test_allow_list_default_depends_on_environment() -> None:
    assert Settings(environment="development").outbound_allow_cidrs == "127.0.0.0/8,::1/128"
    assert Settings(environment="production").outbound_allow_cidrs == ""
    assert Settings(environment="development", outbound_allow_cidrs="").outbound_allow_cidrs == ""


def test_allow_list_setting_rejects_bad_cidrs() -> None:
    with pytest.raises(ValueError, match="not-a-cidr"):
        Settings(outbound_allow_cidrs="10.0.0.0/8,not-a-cidr")


# --- the stack's own services -------------------------------------------------------------------

SERVICES = (
    OwnService("the API gateway", "127.0.0.1", 8000),
    OwnService("the upstream simulator", "0.0.0.0", 8090),  # a listen address: all of them
    OwnService("Redis", "8.8.4.4", 6379),  # a managed Redis at a public address
    OwnService("the database", "10.1.2.3", 5432),
)


@pytest.mark.parametrize(
    ("address", "port", "service"),
    [
        ("127.0.0.1", 8000, "the API gateway"),
        ("127.0.0.2", 8000, "the API gateway"),  # any loopback address reaches 0.0.0.0/127.x
        ("::1", 8090, "the upstream simulator"),
        ("::ffff:127.0.0.1", 8090, "the upstream simulator"),
        ("0.0.0.0", 8090, "the upstream simulator"),
        ("10.9.9.9", 8090, "the upstream simulator"),  # a private address at its port
        ("8.8.4.4", 6379, "Redis"),  # its own public address
        ("::ffff:8.8.4.4", 6379, "Redis"),
        ("127.0.0.1", 6379, "Redis"),
        ("10.1.2.3", 5432, "the database"),
        ("8.8.8.8", 6379, None),  # someone else's server on the same port
        ("8.8.8.8", 8000, None),
        ("127.0.0.1", 9000, None),  # a developer's receiver on another port
        ("8.8.4.4", 443, None),
    ],
)
def test_own_service_decision(address: str, port: int, service: str | None) -> None:
    found = own_service(address, port, SERVICES)
    assert (found.name if found else None) == service


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8090/_sim/reset",
        "http://localhost:8090/_sim/reset",
        "http://[::1]:8000/api/webhooks/test",
        "http://127.1:6379/",
        "http://2130706433:8000/",
    ],
)
def test_own_services_are_refused_whatever_the_allow_list_says(url: str) -> None:
    for allow in (LOOPBACK_ALLOWED, EVERYTHING_ALLOWED):
        with pytest.raises(UnsafeUrl) as caught:
            check_url(url, allow=allow, own=SERVICES)
        assert "the API's own services are never valid targets" in caught.value.reason
    assert check_url("http://127.0.0.1:9000/hook", allow=LOOPBACK_ALLOWED, own=SERVICES)


def test_own_services_come_from_the_settings() -> None:
    settings = ExplicitSettings(
        gateway_port=8123,
        simulator_url="http://sim.internal:8124",
        flower_port=8125,
        redis_url="rediss://:secret@redis.internal/0",
        embedded_redis_port=6391,
        database_url="postgresql+psycopg://veo:pw@db.internal/veo",
    )
    assert {(s.host, s.port) for s in own_services(settings)} == {
        ("127.0.0.1", 8123),
        ("sim.internal", 8124),
        ("127.0.0.1", 8125),
        ("redis.internal", 6379),
        ("127.0.0.1", 6391),
        ("db.internal", 5432),
    }
    sqlite = ExplicitSettings(database_url="sqlite:///var/veo.db")
    assert "the database" not in {s.name for s in own_services(sqlite)}


def test_a_callers_header_replaces_a_default_whatever_its_case() -> None:
    checked = check_url("http://8.8.8.8/hook", allow=())
    headers = {"user-agent": "veo-gateway-webhooks/1", "ACCEPT-ENCODING": "gzip"}
    request = pinned_request(httpx.AsyncClient(), checked, checked.address, headers=headers)
    assert request.headers.get_list("User-Agent") == ["veo-gateway-webhooks/1"]
    assert request.headers.get_list("Accept-Encoding") == ["gzip"]
