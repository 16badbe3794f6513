"""SQLAlchemy engines for the bus's reads and migrations (WAL, the setup lock, a migration's write lock)."""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError

from agentbus.core.busfile import connect_sqlite, sqlite_file
from agentbus.core.config import Backend
from agentbus.core.errors import BusUnavailable, describe_db_error
from agentbus.core.pgdriver import connect_options
from agentbus.core.writelock import WRITE_LOCK_FILE, WriteLock

__all__ = [
    "WRITE_OPTION",
    "enable_wal",
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
    """Reads, and a migration's writes (WRITE_OPTION): the bus's writes go through its writer (writer.py)."""
    db_file = sqlite_file(url)
    if db_file is None:
        raise BusUnavailable(f"{where} is not a bus file: a SQLite bus is a file (sqlite:///PATH) that sessions share")
    # The connections are set up as the writer's (busfile.py): autocommit, so the "begin" event below
    # decides how transactions start; busy timeout; synchronous = NORMAL.
    path = db_file
    engine = create_engine(url, creator=lambda: connect_sqlite(path, busy_timeout_seconds))
    lock_path = db_file.with_name(WRITE_LOCK_FILE)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if not conn.get_execution_options().get(WRITE_OPTION, False):
            conn.exec_driver_sql("BEGIN")
            return
        # A migration writes like every writer (SPEC SCHEMA-1): the flock, then BEGIN IMMEDIATE.
        lock = WriteLock(lock_path)
        lock.take()
        conn.info[_LOCK] = lock
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _let_go(conn.info)
            raise

    # The connection events "commit" and "rollback" fire before the DBAPI call: releasing the flock
    # then would let the next writer into SQLite's busy handler. A write connection goes back to the
    # pool right after its transaction, so that is where the lock is released.
    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _let_go(record.info)

    @event.listens_for(engine.pool, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
        _let_go(record.info)

    return engine


_LOCK = "agentbus_write_lock"


def _let_go(info: dict[Any, Any]) -> None:
    lock = info.pop(_LOCK, None)
    if lock is not None:
        lock.release()
        lock.close()


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


def translate_db_error(exc: DBAPIError, where: str) -> BusUnavailable:
    """Turn a driver error into a sentence naming the bus and what to do about it."""
    message = str(exc.orig) if exc.orig is not None else str(exc)
    return describe_db_error(message, where, operational=isinstance(exc, OperationalError))
