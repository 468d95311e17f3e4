"""A workaround for kombu 5.7 crashing workers when the Redis broker restarts (found by the
chaos tests).

On a lost connection Celery's consumer collects the connection, which drops the channel's link
to it, and then still uses the channel: closing it restores unacked messages, and a task that
finishes late acks its message. Both build a Redis client from the dropped link and raise
AttributeError, which Celery treats as unrecoverable: the whole worker exits. Raising Redis's
ConnectionError instead lets kombu and Celery do what they do for any lost connection (ignore it
on close, reconnect). Nothing is lost: the message's work is in the database, and the sweeper
re-sends what is still due.
"""

from typing import Any

import redis
from kombu.transport import redis as redis_transport

_connparams = redis_transport.Channel._connparams


def _connparams_or_connection_error(self: Any, asynchronous: bool = False) -> Any:
    if self.connection is None or self.connection.client is None:
        raise redis.exceptions.ConnectionError("the broker connection was already closed")
    return _connparams(self, asynchronous=asynchronous)


def install() -> None:
    redis_transport.Channel._connparams = _connparams_or_connection_error  # type: ignore[method-assign]
