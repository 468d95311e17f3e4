"""Refused API keys cost the database one read at most: an unknown key is remembered in Redis
briefly, and an address past its limit of refused keys is answered before any lookup
(api_gateway.deps.authenticate against a real Redis and database)."""

import asyncio
import secrets
from collections.abc import Iterator

import pytest
from starlette.requests import Request

from api_gateway import deps
from api_gateway.batching import admission
from shared import key_cache, redis_client
from shared.errors import ApiError, AuthenticationFailed, RateLimitExceeded
from shared.settings import get_settings
from tests.conftest import Stack
from tests.support.api import fresh_rate_window


@pytest.fixture
def lookups(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The key hashes the gateway looked up in the database, in order."""
    seen: list[str] = []
    lookup = deps._lookup

    def counted(key_hash: str) -> key_cache.KeyRecord | None:
        seen.append(key_hash)
        return lookup(key_hash)

    monkeypatch.setattr(deps, "_lookup", counted)
    return seen


@pytest.fixture
def failure_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("VEO_AUTH_FAILURES_PER_MINUTE", "3")
    get_settings.cache_clear()
    yield 3
    monkeypatch.undo()
    get_settings.cache_clear()


def _authenticate_all(attempts: list[tuple[str, str]]) -> list[object]:
    """Each (key, client address) through `authenticate`: its admission or its error."""

    async def scenario() -> list[object]:
        outcomes: list[object] = []
        try:
            for key, host in attempts:
                scope = {
                    "type": "http",
                    "method": "GET",
                    "path": "/api/video-status/x",
                    "query_string": b"",
                    "headers": [(b"authorization", f"Bearer {key}".encode())],
                    "client": (host, 40000),
                }
                try:
                    outcomes.append(await deps.authenticate(Request(scope)))
                except ApiError as error:
                    outcomes.append(error)
        finally:  # this loop's client and counter must not outlive it
            loop_id = id(asyncio.get_running_loop())
            admission._counters.pop(loop_id, None)
            await redis_client._async_clients.pop(loop_id).aclose(close_connection_pool=True)
        return outcomes

    return asyncio.run(scenario())


def _address() -> str:
    return f"198.51.100.{secrets.randbelow(254) + 1}"


def test_an_unknown_key_is_read_from_the_database_once(lookups: list[str]) -> None:
    """Repeated, an unknown key is refused from the Redis cache, without the database."""
    key = "veo_" + secrets.token_urlsafe(32)
    outcomes = _authenticate_all([(key, _address())] * 4)
    assert all(isinstance(outcome, AuthenticationFailed) for outcome in outcomes), outcomes
    assert len(lookups) == 1


def test_past_the_limit_refused_keys_are_not_looked_up(
    lookups: list[str], failure_limit: int
) -> None:
    """An address past its limit gets 1003 with Retry-After, and its keys cost no lookup."""
    address = _address()
    fresh_rate_window()
    keys = ["veo_" + secrets.token_urlsafe(32) for _ in range(failure_limit + 3)]
    outcomes = _authenticate_all([(key, address) for key in keys])
    refused = outcomes[:failure_limit]
    assert all(isinstance(outcome, AuthenticationFailed) for outcome in refused), outcomes
    blocked = outcomes[failure_limit:]
    assert all(isinstance(outcome, RateLimitExceeded) for outcome in blocked), outcomes
    assert all(1 <= int(outcome.headers["Retry-After"]) <= 60 for outcome in blocked)  # type: ignore[attr-defined]
    assert len(lookups) == failure_limit
