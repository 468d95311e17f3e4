"""Engines and sessions. SQLite is made safe for several processes; PostgreSQL is used as is.

SQLite quirk handled here: a deferred transaction that reads and then writes can fail with
"database is locked" without waiting, so writers open with BEGIN IMMEDIATE (and wait up to the
busy timeout) while readers keep plain BEGIN and never block behind a writer (WAL).
"""

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session

from shared.settings import Settings, get_settings

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A pooled PostgreSQL connection back for less than this was working a moment ago: it is handed
# out without the round trip pool_pre_ping pays at every checkout (three of a submit's dozen
# round trips, each waiting for the server on a busy host). Older ones are pinged first.
PING_IDLE_S = 1.0


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_ENGINES: dict[str, tuple[Engine, Engine]] = {}


def _engines(url: str) -> tuple[Engine, Engine]:
    """(writer, reader) for the URL, built once per process."""
    if url not in _ENGINES:
        _ENGINES[url] = _build_engines(url)
    return _ENGINES[url]


def _build_engines(url: str) -> tuple[Engine, Engine]:
    """A writer and a reader: BEGIN IMMEDIATE and plain BEGIN on SQLite, transactional and
    autocommit on PostgreSQL."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, immediate=True), _sqlite_engine(url, immediate=False)
    settings = get_settings()
    pool = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_pool_size,
        "pool_recycle": 1800,
        "connect_args": _network_timeouts(settings),
    }
    # Reads need no BEGIN/ROLLBACK round trips around them: autocommit halves a lookup's cost.
    reader = create_engine(url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **pool)
    writer = create_engine(url, **pool)
    _ping_when_idle(reader)
    _ping_when_idle(writer)
    return writer, reader


def _network_timeouts(settings: Settings) -> dict[str, int]:
    """libpq's limits on a silent network. Without them a host cut off from PostgreSQL (packets
    dropped, nothing refused) waits on the kernel: about 2 minutes for each connection attempt
    and about 15 minutes for a statement on a connection that went silent, holding its task, and
    the rows it locked, all that time (found by tests/chaos/test_partition.py). With them a
    statement fails after `db_dead_connection_s` of unacknowledged data, an idle pooled
    connection is probed after half of that, and a connection attempt gives up after
    `db_connect_timeout_s`."""
    dead_s = settings.db_dead_connection_s
    return {
        "connect_timeout": max(2, math.ceil(settings.db_connect_timeout_s)),  # whole s, >= 2
        "keepalives": 1,
        "keepalives_idle": max(1, math.ceil(dead_s / 2)),
        "keepalives_interval": max(1, math.ceil(dead_s / 4)),
        "keepalives_count": 2,
        "tcp_user_timeout": math.ceil(dead_s * 1000),  # ms; also ends unanswered keepalives
    }


def _ping_when_idle(engine_: Engine) -> None:
    """pool_pre_ping, for connections idle in the pool for PING_IDLE_S or more (and new ones):
    a dead one is replaced before use. One killed within PING_IDLE_S of its last use fails its
    next statement instead, as any connection lost while checked out does, and that failure
    invalidates the rest of the pool."""

    @event.listens_for(engine_, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine_, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.pop("checked_in_at", None)
        if checked_in_at is not None and time.monotonic() - checked_in_at < PING_IDLE_S:
            return
        try:
            engine_.dialect.do_ping(dbapi_conn)
        except engine_.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(f"pooled connection is dead: {error}") from error


def engine() -> Engine:
    return _engines(get_settings().database_url)[0]


def dispose_engines(*, close: bool = True) -> None:
    """Drop pooled connections: closed when done with a database, only forgotten after a fork
    (the parent still owns those sockets)."""
    writer, reader = _engines(get_settings().database_url)
    writer.dispose(close=close)
    reader.dispose(close=close)


def forget_engines() -> None:
    """Close every engine this process built and forget them (tests switching databases)."""
    for writer, reader in _ENGINES.values():
        writer.dispose()
        reader.dispose()
    _ENGINES.clear()


@contextmanager
def write_session() -> Iterator[Session]:
    """A session for work that writes; commit explicitly, anything uncommitted is rolled back."""
    with Session(_engines(get_settings().database_url)[0], expire_on_commit=False) as session:
        yield session


@contextmanager
def read_session() -> Iterator[Session]:
    with Session(_engines(get_settings().database_url)[1], expire_on_commit=False) as session:
        yield session


@contextmanager
def read_connection() -> Iterator[Connection]:
    """A Core connection for the hottest reads, without an ORM session's bookkeeping."""
    with _engines(get_settings().database_url)[1].connect() as connection:
        yield connection


@contextmanager
def autocommit_connection() -> Iterator[Connection]:
    """PostgreSQL only: every statement commits by itself, so a write done in one statement holds
    its row locks while the server runs it, never across our own Python (the reader engine)."""
    engine_ = _engines(get_settings().database_url)[1]
    if engine_.dialect.name != "postgresql":
        raise RuntimeError("autocommit_connection() is for PostgreSQL")
    with engine_.connect() as connection:
        yield connection


@contextmanager
def statement_connection() -> Iterator[Connection]:
    """For writes of one statement each (a compare-and-set move): on PostgreSQL each commits by
    itself, without the BEGIN and COMMIT round trips and the ORM session a write_session costs;
    on SQLite a writer transaction (BEGIN IMMEDIATE) committed when the block ends."""
    if is_postgresql():
        with autocommit_connection() as connection:
            yield connection
    else:
        with write_transaction() as connection:
            yield connection


def is_postgresql() -> bool:
    return _engines(get_settings().database_url)[0].dialect.name == "postgresql"


@contextmanager
def write_transaction() -> Iterator[Connection]:
    """A Core transaction on the writer: committed when the block ends, rolled back if it raises."""
    with _engines(get_settings().database_url)[0].begin() as connection:
        yield connection
