"""Engines for the bus: every SQLite-only detail (WAL, busy_timeout, BEGIN IMMEDIATE) lives here."""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError

from agentbus.core.busfile import connect_sqlite, describe_db_error, sqlite_file
from agentbus.core.config import Backend
from agentbus.core.errors import BusUnavailable
from agentbus.core.mailbox_sql import LOCK_NAME_PG
from agentbus.core.pgdriver import connect_options
from agentbus.core.writequeue import WRITE_LOCK_FILE, WriteQueue

__all__ = [
    "WRITE_OPTION",
    "enable_wal",
    "lock_mailbox",
    "make_engine",
    "setup_lock",
    "sqlite_file",
    "translate_db_error",
]

WRITE_OPTION = "agentbus_write"


def make_engine(url: str, *, busy_timeout_seconds: float, where: str = "") -> Engine:
    backend = Backend.of_url(url)
    if backend is Backend.SQLITE:
        return _sqlite_engine(url, busy_timeout_seconds, where or url)
    if backend is Backend.POSTGRESQL:
        return create_engine(url, pool_pre_ping=True, connect_args=connect_options(busy_timeout_seconds))
    return create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: str, busy_timeout_seconds: float, where: str) -> Engine:
    db_file = sqlite_file(url)
    if db_file is None:  # in memory: no file to share, no write queue
        engine = create_engine(url, connect_args={"timeout": busy_timeout_seconds, "check_same_thread": False})
        queue = None

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # the "begin" event below decides how transactions start
    else:
        # The connections are set up as the driver-level ones (busfile.py): autocommit, so the "begin"
        # event below decides how transactions start; busy timeout; synchronous = NORMAL.
        path = db_file
        engine = create_engine(url, creator=lambda: connect_sqlite(path, busy_timeout_seconds))
        queue = WriteQueue(db_file.with_name(WRITE_LOCK_FILE), where)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front so two writers never deadlock on upgrade, after
        # their turn in the write queue (writequeue.py), so none sleeps in SQLite's busy handler.
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        if not immediate:
            conn.exec_driver_sql("BEGIN")
            return
        if queue is not None:
            conn.info[_QUEUE_FD] = queue.acquire(busy_timeout_seconds)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _leave_queue(conn.info)
            raise

    # The connection events "commit" and "rollback" fire before the DBAPI call: leaving the queue
    # then would let the next writer into SQLite's busy handler. A write connection goes back to
    # the pool right after its transaction (Bus._write), so that is where the turn ends.
    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _leave_queue(record.info)

    @event.listens_for(engine.pool, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
        _leave_queue(record.info)

    return engine


_QUEUE_FD = "agentbus_write_queue_fd"


def _leave_queue(info: dict[Any, Any]) -> None:
    fd = info.pop(_QUEUE_FD, None)
    if fd is not None:
        WriteQueue.release(fd)


def enable_wal(engine: Engine) -> None:
    """Switch a SQLite bus to WAL (persistent in the file). Called under the setup lock: switching
    journal mode needs an exclusive lock, which concurrent first openers would otherwise race for."""
    if Backend(engine.dialect.name) is Backend.SQLITE:
        raw = engine.raw_connection()  # outside SQLAlchemy's autobegin: the pragma refuses transactions
        try:
            raw.driver_connection.execute("PRAGMA journal_mode = WAL")  # type: ignore[union-attr]
        finally:
            raw.close()


@contextmanager
def setup_lock(engine: Engine, lock_path: Path | None) -> Iterator[None]:
    """Serialise first-time setup (migrations) among processes opening the same bus."""
    if Backend(engine.dialect.name) is Backend.SQLITE and lock_path is not None:
        with os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif Backend(engine.dialect.name) is Backend.POSTGRESQL:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(727274)"))
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(727274)"))
                conn.commit()
    else:
        yield


def lock_mailbox(conn: Connection, recipient: str) -> None:
    """Serialise claimers of one mailbox inside the current write transaction.

    SQLite needs nothing: BEGIN IMMEDIATE already admits one writer at a time. PostgreSQL
    takes a transaction-scoped advisory lock keyed by the recipient.
    """
    if Backend(conn.dialect.name) is Backend.POSTGRESQL:
        conn.execute(text(LOCK_NAME_PG), {"name": recipient})


def translate_db_error(exc: DBAPIError, where: str) -> BusUnavailable:
    """Turn a driver error into a sentence naming the bus and what to do about it."""
    message = str(exc.orig) if exc.orig is not None else str(exc)
    return describe_db_error(message, where, operational=isinstance(exc, OperationalError))
