"""A gateway of a module's own on the `quiet` stack (a database no worker or beat serves), so
jobs stay where the test puts them: pending ones are never admitted, none is polled. Import
both fixtures into a test module, and mark it `usefixtures("quiet_stack")` so rows the test
writes in-process land in that same database."""

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Stack, running_gateway


@pytest.fixture(scope="module")
def quiet_gateway(quiet: Stack) -> Iterator[str]:
    with running_gateway(quiet, "gateway-quiet-api") as url:
        yield url


@pytest.fixture
def quiet_client(quiet_gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=quiet_gateway, timeout=30) as http:
        yield http
