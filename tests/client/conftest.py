"""The SDK and the CLI against a contract-conformant fake (fake_api.py) or the running stack."""

from collections.abc import Iterator

import pytest
from veo_client import RetryPolicy, VeoClient

from tests.client.fake_api import BASE, KEY, FakeApi


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The SDK's pauses, recorded instead of slept (sync and async clients)."""
    pauses: list[float] = []

    async def async_sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr("veo_client.client.sleep", pauses.append)
    monkeypatch.setattr("veo_client.async_client.sleep", async_sleep)
    return pauses


@pytest.fixture
def sdk(api: FakeApi, slept: list[float]) -> Iterator[VeoClient]:
    with VeoClient(
        KEY, BASE, transport=api.transport(), retry=RetryPolicy(max_retries=3)
    ) as client:
        yield client
