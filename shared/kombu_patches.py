"""Two patches of kombu 5.7's Redis transport, installed with the Celery app (shared.celery_app),
so in the workers and in the gateway, which publishes.

1. Crashes when the Redis broker restarts (found by the chaos tests). On a lost connection
Celery's consumer collects the connection, which drops the channel's link to it, and then still
uses the channel: closing it restores unacked messages, and a task that finishes late acks its
message. Both build a Redis client from the dropped link and raise AttributeError, which Celery
treats as unrecoverable: the whole worker exits. Raising Redis's ConnectionError instead lets
kombu and Celery do what they do for any lost connection (ignore it on close, reconnect).
Nothing is lost: the message's work is in the database, and the sweeper re-sends what is still
due.

2. A Redis client object per command. kombu builds a new client (about 70 µs of CPU, more than
the command it sends) for every event, ack and publish it makes without one: a worker's three
task events and one ack per task, and the gateway's publisher one per batch of messages (a
quarter of its publishing CPU). The channel keeps one instead, for as long as its connection
pool lasts (a new pool, after a lost connection, gets a new client). Clients are thread-safe:
each command takes a connection from the pool.

Both replace private methods of kombu's `Channel`, so they hold for the kombu they were written
for only: `install()` refuses any other version (pyproject.toml pins it), and
tests/unit/test_kombu_patches.py fails when the source of a method in `KOMBU_METHODS` changes.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import kombu
import redis
from kombu.transport import redis as redis_transport

#: The kombu release the patches were written for and read against.
KOMBU_VERSION: Final = "5.7.0"

_Channel = redis_transport.Channel
_connparams: Callable[..., Any] = _Channel._connparams
_create_client: Callable[..., Any] = _Channel._create_client

#: kombu's own methods that the patches replace or call, as kombu defines them (taken at import,
#: before `install()`): what to re-read against the patches when kombu changes.
KOMBU_METHODS: Final[dict[str, Callable[..., Any]]] = {
    "Channel._connparams": _connparams,  # replaced by patch 1, which calls it
    "Channel.conn_or_acquire": _Channel.conn_or_acquire,  # replaced by patch 2
    "Channel._create_client": _create_client,  # called by patch 2: builds on `self.pool`
    "Channel.pool": _Channel.__dict__["pool"].fget,  # read by patch 2: one pool per connection
}


def _connparams_or_connection_error(self: Any, asynchronous: bool = False) -> Any:
    if self.connection is None or self.connection.client is None:
        raise redis.exceptions.ConnectionError("the broker connection was already closed")
    return _connparams(self, asynchronous=asynchronous)


@contextmanager
def _conn_or_acquire_reused(self: Any, client: Any = None) -> Iterator[Any]:
    if client:
        yield client
        return
    pool = self.pool  # raises as kombu's own does once the connection is gone (patch 1)
    cached = self.__dict__.get("_veo_client")
    if cached is None or cached.connection_pool is not pool:
        cached = self._veo_client = _create_client(self)
    yield cached


def install() -> None:
    """Patch kombu's Redis channel (idempotent), refusing a kombu the patches were not read for."""
    if kombu.__version__ != KOMBU_VERSION:
        raise RuntimeError(
            f"kombu {kombu.__version__} is installed, but shared/kombu_patches.py was written for "
            f"kombu {KOMBU_VERSION}. Re-read {', '.join(KOMBU_METHODS)} in kombu/transport/"
            "redis.py against both patches, then update KOMBU_VERSION, the kombu pin in "
            "pyproject.toml and the source hashes in tests/unit/test_kombu_patches.py."
        )
    _Channel._connparams = _connparams_or_connection_error  # type: ignore[method-assign]
    _Channel.conn_or_acquire = _conn_or_acquire_reused  # type: ignore[method-assign]
