"""Two patches to kombu's Redis transport, installed by the workers.

1. A workaround for kombu 5.7 crashing workers when the Redis broker restarts (found by the
chaos tests). On a lost connection Celery's consumer collects the connection, which drops the
channel's link to it, and then still uses the channel: closing it restores unacked messages, and
a task that finishes late acks its message. Both build a Redis client from the dropped link and
raise AttributeError, which Celery treats as unrecoverable: the whole worker exits. Raising
Redis's ConnectionError instead lets kombu and Celery do what they do for any lost connection
(ignore it on close, reconnect). Nothing is lost: the message's work is in the database, and the
sweeper re-sends what is still due.

2. One Redis client per channel instead of one per command. kombu builds a new client object
for every publish, task event and ack (`conn_or_acquire`); with redis-py 8 constructing one
costs more than the command it sends, about 4 % of a generation worker's CPU. A client is only
a handle on the channel's connection pool and is thread-safe, so it is kept and rebuilt
whenever the channel replaces its pool (after a reconnect).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from kombu.transport import redis as redis_transport

_connparams = redis_transport.Channel._connparams
_CLIENT_ATTR = "_veo_client"


def _connparams_or_connection_error(self: Any, asynchronous: bool = False) -> Any:
    if self.connection is None or self.connection.client is None:
        raise redis.exceptions.ConnectionError("the broker connection was already closed")
    return _connparams(self, asynchronous=asynchronous)


@contextmanager
def _conn_or_acquire_reused(self: Any, client: Any = None) -> Iterator[Any]:
    if client:
        yield client
        return
    pool = self.pool  # raises ConnectionError once the connection is gone (patch 1)
    reused = self.__dict__.get(_CLIENT_ATTR)
    if reused is None or reused.connection_pool is not pool:
        reused = self._create_client()
        self.__dict__[_CLIENT_ATTR] = reused
    yield reused


def install() -> None:
    redis_transport.Channel._connparams = _connparams_or_connection_error  # type: ignore[method-assign]
    redis_transport.Channel.conn_or_acquire = _conn_or_acquire_reused  # type: ignore[method-assign]
