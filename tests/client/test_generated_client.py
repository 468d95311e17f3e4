"""The sync client is generated from the async one (devtools/sync_client.py): an edit to either
that the other lacks fails here, before the two clients can behave differently."""

from devtools.sync_client import TARGET, generated


def test_the_sync_client_is_exactly_what_the_async_one_generates() -> None:
    assert TARGET.read_text() == generated(), "client.py is stale: run `veo-dev sync-client`"
