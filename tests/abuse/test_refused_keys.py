"""Guessing keys does not pay: past `auth_failures_per_minute` refused keys, a client address is
answered 1003 with Retry-After, while its valid keys and other addresses are served as before."""

import secrets
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import AccountInfo, Stack, running_gateway
from tests.support.api import fresh_rate_window

LIMIT = 5


@pytest.fixture(scope="module")
def strict_gateway(stack: Stack) -> Iterator[str]:
    env = {"VEO_AUTH_FAILURES_PER_MINUTE": str(LIMIT)}
    with running_gateway(stack, "gateway-strict", env=env) as url:
        yield url


def _network() -> str:
    """A /64 of the documentation range no other test uses (refusals count per address)."""
    return f"2001:db8:{secrets.randbelow(0xFFFF):x}:{secrets.randbelow(0xFFFF):x}"


def _status(client: httpx.Client, key: str, address: str) -> httpx.Response:
    """A status poll from `address`: the gateway trusts X-Forwarded-For from loopback."""
    headers = {"Authorization": f"Bearer {key}", "X-Forwarded-For": address}
    return client.get("/api/video-status/x", headers=headers)


def _random_key() -> str:
    return "veo_" + secrets.token_urlsafe(32)


def test_an_address_guessing_keys_gets_1003_and_nobody_else_does(
    strict_gateway: str, account: Callable[..., AccountInfo]
) -> None:
    """Random keys from one address: LIMIT answers of 1002, then 1003 with Retry-After; the same
    address's valid key, and another address, are unaffected."""
    valid = account(credits=10).api_key
    network = _network()
    guesser, neighbour = f"{network}::1", f"{network}::7"  # one /64: one client
    elsewhere = f"{_network()}::1"
    fresh_rate_window()
    with httpx.Client(base_url=strict_gateway, timeout=10) as client:
        assert _status(client, valid, elsewhere).json()["code"] == 1000  # known (and cached)
        codes = [_status(client, _random_key(), guesser).json()["code"] for _ in range(LIMIT)]
        assert codes == [1002] * LIMIT
        blocked = _status(client, _random_key(), guesser)
        assert blocked.status_code == 429
        assert blocked.json()["code"] == 1003
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        assert _status(client, _random_key(), neighbour).json()["code"] == 1003
        assert _status(client, valid, guesser).json()["code"] == 1000  # a real key still works
        assert _status(client, _random_key(), elsewhere).json()["code"] == 1002
