"""The loopback HTTP server the outbound-fetch and webhook-post tests talk to."""

from collections.abc import Iterator

import pytest

from tests.uploads.servers import Seen, serve


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Seen]]:
    """One plain-HTTP server per test module: its base URL and what it has seen."""
    with serve() as (port, seen):
        yield f"http://127.0.0.1:{port}", seen
