"""A SQLite bus file at the driver level: created and protected, at the schema head, and its writer.

A starting adapter must be registered before it answers ``initialize`` (SPEC PRES-1), and importing
SQLAlchemy takes longer than everything else of a start together. So a SQLite bus is opened here with
the standard library alone: the file is created with its modes, its schema revision read, and the
process's one writer (writer.py) built on a ``sqlite3`` connection, its transactions taken as SPEC
SCHEMA-1 says (the flock, then ``BEGIN IMMEDIATE``). Only a bus that is not at the schema head (a
fresh one, or an older revision) loads SQLAlchemy and migrate.py here; the rest of the bus (``Bus``,
SQLAlchemy for reads) is built after the answer, on this writer and the engine handed over.
"""

import contextlib
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentbus.core.config import Settings
from agentbus.core.driver_base import DriverBus
from agentbus.core.errors import BusUnavailable, describe_db_error
from agentbus.core.mailbox_sql import expand_lists
from agentbus.core.paths import ensure_home, restrict_file
from agentbus.core.writelock import WRITE_LOCK_FILE, WriteLock
from agentbus.core.writer import Writer


def sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///")
    return None if path in ("", ":memory:") else Path(path)


def connect_sqlite(path: Path, busy_timeout_seconds: float) -> sqlite3.Connection:
    """A connection to the bus file as every one of ours is set up: autocommit (we say when a
    transaction begins), the busy timeout, ``synchronous = NORMAL``; usable from any thread."""
    conn = sqlite3.connect(path, timeout=busy_timeout_seconds, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_seconds * 1000)}")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _driver_error(exc: sqlite3.Error, where: str) -> BusUnavailable:
    return describe_db_error(str(exc), where, operational=isinstance(exc, sqlite3.OperationalError))


class SQLiteTx:
    """tx.Tx on the writer's sqlite3 connection inside its write transaction."""

    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self.conn = conn
        self.where = where

    def run(self, sql: str, params: Mapping[str, Any]) -> int:
        try:
            return self.conn.execute(*expand_lists(sql, params)).rowcount
        except sqlite3.Error as exc:
            raise _driver_error(exc, self.where) from exc

    def first(self, sql: str, params: Mapping[str, Any]) -> Sequence[Any] | None:
        try:
            row: Sequence[Any] | None = self.conn.execute(*expand_lists(sql, params)).fetchone()
        except sqlite3.Error as exc:
            raise _driver_error(exc, self.where) from exc
        return row

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        try:
            return self.conn.execute(*expand_lists(sql, params)).fetchall()
        except sqlite3.Error as exc:
            raise _driver_error(exc, self.where) from exc

    def lock_mailbox(self, recipient: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already admits one writer at a time."""


class SQLiteWriteDriver:
    """writer.WriteDriver on a SQLite bus file: the SPEC flock, then ``BEGIN IMMEDIATE``.

    The connection's busy timeout is 0 while no transaction waits: a transaction begun at once (on an
    event loop) must not sleep in SQLite's busy handler for a writer of another core that bypasses
    the flock; it is then begun in the writer's thread, where the busy timeout applies.
    """

    begins_on_loop = True

    def __init__(self, conn: sqlite3.Connection, lock: WriteLock, where: str, busy_timeout_seconds: float) -> None:
        self.conn = conn
        self.lock = lock
        self.where = where
        self._busy_ms = int(busy_timeout_seconds * 1000)
        self._tx = SQLiteTx(conn, where)
        self._execute("PRAGMA busy_timeout = 0")

    def _execute(self, sql: str) -> None:
        try:
            self.conn.execute(sql)
        except sqlite3.Error as exc:
            raise _driver_error(exc, self.where) from exc

    def begin_now(self) -> bool:
        if not self.lock.take_now():
            return False
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self.lock.release()
            if "locked" in str(exc) or "busy" in str(exc):
                return False
            raise _driver_error(exc, self.where) from exc
        except sqlite3.Error as exc:
            self.lock.release()
            raise _driver_error(exc, self.where) from exc
        return True

    def begin_waiting(self) -> None:
        try:
            self.lock.take()
        except OSError as exc:
            raise BusUnavailable(f"cannot take the bus's write lock {self.lock.path}: {exc.strerror}") from exc
        try:
            self.conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            finally:
                self.conn.execute("PRAGMA busy_timeout = 0")
        except sqlite3.Error as exc:
            self.lock.release()
            raise _driver_error(exc, self.where) from exc

    def tx(self) -> SQLiteTx:
        return self._tx

    def savepoint(self) -> None:
        self._execute("SAVEPOINT work")

    def release_savepoint(self) -> None:
        self._execute("RELEASE work")

    def rollback_to_savepoint(self) -> None:
        self._execute("ROLLBACK TO work")

    def commit(self) -> None:
        self._execute("COMMIT")
        self.lock.release()

    def rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        self.lock.release()

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        self.lock.close()


class BusFile(DriverBus):
    """An open SQLite bus at the driver level: its file, its schema at the head, and its writer."""

    def __init__(self, settings: Settings) -> None:
        db_file = sqlite_file(settings.url)
        if db_file is None:
            raise BusUnavailable(
                f"{settings.url} is not a bus file: a SQLite bus is a file (sqlite:///PATH) that sessions share"
            )
        self.settings = settings
        self.path = db_file
        self.where = str(db_file)
        ensure_home(db_file.parent)
        try:
            if not db_file.exists():
                os.close(os.open(db_file, os.O_CREAT | os.O_WRONLY, 0o600))
            # A WAL or shm file left by an older or foreign writer would otherwise keep its own mode.
            for suffix in ("", "-wal", "-shm"):
                restrict_file(db_file.with_name(db_file.name + suffix))
        except OSError as exc:
            raise BusUnavailable(
                f"cannot create or protect the bus file {db_file}: {exc.strerror}; "
                f"check the permissions of {db_file.parent}"
            ) from exc
        try:
            self._conn = connect_sqlite(db_file, settings.busy_timeout_seconds)
        except sqlite3.Error as exc:
            raise _driver_error(exc, self.where) from exc
        self._read_revision()
        driver = SQLiteWriteDriver(
            self._conn, WriteLock(db_file.with_name(WRITE_LOCK_FILE)), self.where, settings.busy_timeout_seconds
        )
        self.writer = Writer(driver, settings.busy_timeout_seconds)

    def _revision(self) -> str | None:
        try:
            row = self._conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise _driver_error(exc, self.where) from exc
        except sqlite3.Error as exc:
            raise _driver_error(exc, self.where) from exc
        return None if row is None else str(row[0])

    def migration_lock(self) -> Path:
        return self.path.with_name("bus.lock")

    def _close_connection(self) -> None:
        if hasattr(self, "writer"):
            self.writer.close()
        else:
            self._conn.close()
