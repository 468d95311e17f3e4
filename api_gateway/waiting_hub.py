"""One Redis pub/sub connection per gateway process (per event loop), fanning each job's
published changes (shared.job_events) out to the requests waiting on that job.

A waiting request costs a Listener (a small deque and, while it sleeps, one future) in a dict
keyed by channel: no task, thread, database connection or Redis connection of its own. The
first listener of a job subscribes its channel and the last one unsubscribes it; `listening`
returns only once Redis has confirmed the subscription, so whatever the caller reads next
cannot miss a change published after that read. Each message is decoded once for all of its
listeners.

When the connection is lost, redis-py reconnects and subscribes again; the changes published
meanwhile are gone, so every listener is then told to read the current state again (RESYNC,
sent once a PING behind the new subscriptions has come back). When Redis cannot be reached at
all, listeners are told FAILED and `listening` raises: callers answer with what they have.
So are they when the process is asked to stop: uvicorn waits for every open request before it
stops, and an event stream has no end of its own (`_release_on_exit`).
"""

import asyncio
import logging
import signal
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from itertools import groupby
from operator import itemgetter
from types import FrameType
from typing import Any, Final

import redis
import redis.asyncio

from shared import status_cache
from shared.job_events import channel
from shared.job_view import StatusRow
from shared.settings import get_settings

log = logging.getLogger(__name__)

RESYNC: Final = "resync"  # changes may have been missed: read the current state again
FAILED: Final = "failed"  # the connection is gone: stop waiting
Event = StatusRow | str
# A listener keeps the last few changes it has not taken yet (the stream sends each one).
LISTENER_BACKLOG = 8
READ_TIMEOUT_S = 15.0  # each read also lets redis-py PING an idle connection
RECONNECT_PAUSE_S = 1.0
# A burst of new waiters queues its SUBSCRIBEs behind each other: give their replies time.
CONFIRM_MIN_S = 10.0


class Unavailable(Exception):
    """Redis could not confirm a subscription: nothing can be waited for."""


class Listener:
    """One waiting request's view of its job's channel."""

    __slots__ = ("_events", "_waiter")

    def __init__(self) -> None:
        self._events: deque[Event] = deque(maxlen=LISTENER_BACKLOG)
        self._waiter: asyncio.Future[None] | None = None

    def push(self, event: Event) -> None:
        self._events.append(event)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self, timeout_s: float) -> Event | None:
        """The next change (a StatusRow, RESYNC or FAILED), or None after `timeout_s`."""
        if not self._events:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(max(timeout_s, 0.0)):
                    await self._waiter
            except TimeoutError:
                return None
            finally:
                self._waiter = None
        return self._events.popleft()


class JobEventHub:
    """The process's subscriptions and their listeners."""

    def __init__(self, client: "redis.asyncio.Redis", confirm_timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self._pubsub = client.pubsub()
        self._confirm_timeout_s = confirm_timeout_s
        self._listeners: dict[str, set[Listener]] = {}
        # Per channel, one future per SUBSCRIBE sent, resolved by its reply (replies come in order).
        self._confirmations: dict[str, deque[asyncio.Future[None]]] = {}
        self._commands: list[tuple[bool, str]] = []  # (subscribe?, channel), in order
        self._sender: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connection: Any = None
        self._resyncs = 0

    @property
    def waiting(self) -> int:
        """How many listeners there are, one per job each listens to (for tests and the
        benchmark)."""
        return sum(len(listeners) for listeners in self._listeners.values())

    @asynccontextmanager
    async def listening(self, *job_ids: str) -> AsyncIterator[Listener]:
        """One listener on the channels of `job_ids`, every one subscribed (confirmed) before
        it is handed out. The subscriptions a listener needs leave in one command."""
        listener = Listener()
        names = [channel(job_id) for job_id in dict.fromkeys(job_ids)]
        joined: list[tuple[str, set[Listener]]] = []
        try:
            for name in names:
                listeners = self._listeners.setdefault(name, set())
                listeners.add(listener)
                joined.append((name, listeners))
                if len(listeners) == 1:  # else another listener's subscription may be on its way
                    self._confirmations.setdefault(name, deque()).append(
                        asyncio.get_running_loop().create_future()
                    )
                    self._queue(True, name)
            for name in names:
                await self._confirmed(name)
            yield listener
        finally:
            for name, listeners in joined:
                listeners.discard(listener)
                if not listeners and self._listeners.get(name) is listeners:
                    del self._listeners[name]
                    self._queue(False, name)

    async def _confirmed(self, name: str) -> None:
        pending = self._confirmations.get(name)
        if not pending:
            return
        try:
            async with asyncio.timeout(self._confirm_timeout_s):
                await asyncio.shield(pending[-1])
        except TimeoutError as error:
            raise Unavailable(f"no confirmation of {name}") from error

    def _queue(self, subscribe: bool, name: str) -> None:
        """(Un)subscriptions leave in order, those of one loop turn in one command."""
        self._commands.append((subscribe, name))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while self._commands:
            commands, self._commands = self._commands, []
            for subscribe, run in groupby(commands, key=itemgetter(0)):
                names = [name for _, name in run]
                try:
                    if self._pubsub.connection is None:
                        await self._pubsub.connect()  # type: ignore[no-untyped-call]
                    if subscribe:
                        await self._pubsub.subscribe(*names)
                    else:
                        await self._unsubscribe(names)
                except (redis.RedisError, OSError) as error:
                    log.warning("Could not (un)subscribe job events (%r)", error)
                    if subscribe:
                        self._fail(names)
            self._start_reader()

    async def _unsubscribe(self, names: list[str]) -> None:
        connection = self._pubsub.connection
        if connection is None or not connection.is_connected:
            for name in names:  # not subscribed again by the next connect
                self._pubsub.channels.pop(name, None)
            return
        await self._pubsub.unsubscribe(*names)

    def _start_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read())
        connection = self._pubsub.connection
        if connection is not None and connection is not self._connection:
            self._connection = connection
            connection.register_connect_callback(self._reconnected)

    async def _reconnected(self, connection: Any) -> None:
        """After redis-py resubscribed (its callback runs first): a PING queued behind those
        SUBSCRIBEs; its answer means every listener can read the current state again."""
        self._resyncs += 1
        await connection.send_command("PING", f"{RESYNC}-{self._resyncs}", check_health=False)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=READ_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as error:
                log.warning("Job event subscription lost (%r); waiting requests answer now", error)
                self._fail_all()
                if not self._listeners:
                    return  # the next subscription starts a reader again
                await asyncio.sleep(RECONNECT_PAUSE_S)
                continue
            if message is not None:
                try:
                    self._dispatch(message)
                except (ValueError, TypeError, IndexError) as error:  # not one of our entries
                    log.warning("Unreadable job event on %s: %r", message.get("channel"), error)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind, name = message["type"], message["channel"]
        if kind == "message":
            listeners = self._listeners.get(name)
            if listeners:
                row = status_cache.decode(message["data"])
                for listener in listeners:  # an entry it cannot read (a deletion): read again
                    listener.push(RESYNC if row is None else row)
        elif kind == "subscribe":
            pending = self._confirmations.get(name)
            if pending:
                confirmation = pending.popleft()
                if not confirmation.done():
                    confirmation.set_result(None)
                if not pending:
                    del self._confirmations[name]
        elif kind == "pong" and str(message["data"]).startswith(RESYNC):
            self._broadcast(RESYNC)

    def _broadcast(self, event: str) -> None:
        for listeners in self._listeners.values():
            for listener in listeners:
                listener.push(event)

    def release_all(self) -> None:
        """Every listener stops waiting (the process is stopping)."""
        self._broadcast(FAILED)

    def _fail_all(self) -> None:
        self._fail(list(self._confirmations))
        self._broadcast(FAILED)

    def _fail(self, names: list[str]) -> None:
        """Subscriptions no reply will confirm."""
        for name in names:
            for confirmation in self._confirmations.pop(name, ()):
                if not confirmation.done():
                    confirmation.set_exception(Unavailable("connection lost"))
                    confirmation.exception()  # retrieved: no "never retrieved" warning


_hubs: dict[int, JobEventHub] = {}
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _release_on_exit(loop: asyncio.AbstractEventLoop) -> None:
    """Chain the process's SIGINT/SIGTERM handlers (uvicorn's, which start its graceful
    shutdown): every listener is told FAILED first, so waits answer and streams end (clients
    resume elsewhere with Last-Event-ID). Only the main thread can; elsewhere, nothing."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in _SIGNALS:
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def handler(
            number: int, frame: FrameType | None, previous: Callable[..., Any] = previous
        ) -> None:
            for hub in list(_hubs.values()):
                loop.call_soon_threadsafe(hub.release_all)
            previous(number, frame)

        signal.signal(signum, handler)


def get_hub() -> JobEventHub:
    """The event loop's hub, on a connection of its own (not the request pool's)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(id(loop))
    if hub is None or hub.loop is not loop:  # a closed loop's id can come back
        settings = get_settings()
        timeout_s = settings.redis_socket_timeout_s
        client = redis.asyncio.Redis.from_url(
            settings.redis_url,
            # No read timeout: a subscription is silent while its jobs run, and a socket
            # timeout (2 s) read that silence as a lost connection, answering every waiter at
            # once. Reads are bounded by get_message's own timeout; the health check's PING
            # finds a dead connection.
            socket_timeout=None,
            socket_connect_timeout=timeout_s,
            health_check_interval=30,
            decode_responses=True,
        )
        if not _hubs:
            _release_on_exit(loop)
        hub = _hubs[id(loop)] = JobEventHub(client, max(timeout_s, CONFIRM_MIN_S))
    return hub
