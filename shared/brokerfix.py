"""Two patches of kombu 5.7's Redis transport, installed with the Celery app (shared.queueing),
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
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from kombu.transport import redis as redis_transport

_connparams = redis_transport.Channel._connparams
_create_client = redis_transport.Channel._create_client


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
    redis_transport.Channel._connparams = _connparams_or_connection_error  # type: ignore[method-assign]
    redis_transport.Channel.conn_or_acquire = _conn_or_acquire_reused  # type: ignore[method-assign]
