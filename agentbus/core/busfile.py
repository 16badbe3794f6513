"""A SQLite bus file at the driver level: created and protected, at the schema head, and its name writes.

A starting adapter must be registered before it answers ``initialize`` (SPEC PRES-1), and importing
SQLAlchemy takes longer than everything else of a start together. So a SQLite bus is opened here with
the standard library alone: the file is created with its modes, its schema revision read, and the
peers row written on one ``sqlite3`` connection, in a write transaction taken like every other
(the write queue's flock, then ``BEGIN IMMEDIATE``; SPEC SCHEMA-1). Every register and unregister of
a SQLite bus goes through here, at start-up or later (``Bus.register`` too): one path. Only a bus that
is not at the schema head (a fresh one, or an older revision) loads SQLAlchemy and migrate.py here;
the rest of the bus (``Bus``, SQLAlchemy) is built after the answer, on the engine handed over.
"""

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from agentbus.core.config import Settings
from agentbus.core.driver_base import SCHEMA_HEAD as SCHEMA_HEAD  # read by tests and tools here, where it lived
from agentbus.core.driver_base import DriverBus
from agentbus.core.errors import BusUnavailable, WouldWait, locked_too_long
from agentbus.core.mailbox_sql import expand_lists
from agentbus.core.paths import ensure_home, restrict_file
from agentbus.core.presence import LEAVE, arriving, take_name
from agentbus.core.records import Peer
from agentbus.core.writequeue import WRITE_LOCK_FILE, WriteQueue
from agentbus.core.writer_thread import WriterThread

T = TypeVar("T")


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


def describe_db_error(message: str, where: str, *, operational: bool) -> BusUnavailable:
    """Turn a driver's error message into a sentence naming the bus and what to do about it."""
    lowered = message.lower()
    if operational and ("locked" in lowered or "lock timeout" in lowered):
        return locked_too_long(where)
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return BusUnavailable(
            f"the bus file {where} is corrupt or not an agentbus database ({message}); "
            "move it aside and a fresh bus is created on next start (agentbus doctor shows details)"
        )
    if "timeout expired" in lowered or "connection refused" in lowered or "could not translate host" in lowered:
        return BusUnavailable(
            f"cannot reach the bus database at {where} ({message.strip()}); is the server running and "
            "reachable? (agentbus doctor checks the connection)"
        )
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        return BusUnavailable(f"cannot write the bus at {where} ({message}); check its permissions")
    return BusUnavailable(f"bus error at {where}: {message}")


def _driver_error(exc: sqlite3.Error, where: str) -> BusUnavailable:
    return describe_db_error(str(exc), where, operational=isinstance(exc, sqlite3.OperationalError))


class DriverTx:
    """presence.Tx and mailbox_sql.Tx on a sqlite3 connection inside a write transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def run(self, sql: str, params: Mapping[str, Any]) -> None:
        self.conn.execute(*expand_lists(sql, params))

    def first(self, sql: str, params: Mapping[str, Any]) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self.conn.execute(*expand_lists(sql, params)).fetchone()
        return row

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        return self.conn.execute(*expand_lists(sql, params)).fetchall()

    def lock_mailbox(self, recipient: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already admits one writer at a time."""


class BusFile(DriverBus):
    """An open SQLite bus at the driver level. Thread-safe (one connection, one writer at a time)."""

    def __init__(self, settings: Settings) -> None:
        db_file = sqlite_file(settings.url)
        if db_file is None:
            raise ValueError(f"not a SQLite bus file: {settings.url}")
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
        self._queue = WriteQueue(db_file.with_name(WRITE_LOCK_FILE), self.where)
        self._writer = WriterThread(self.where)
        self._lock = threading.Lock()
        try:
            self._conn = connect_sqlite(db_file, settings.busy_timeout_seconds)
        except sqlite3.Error as exc:
            raise _driver_error(exc, self.where) from exc
        self._reach_head()

    def _revision(self) -> str | None:
        try:
            with self._lock:
                row = self._conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise _driver_error(exc, self.where) from exc
        except sqlite3.Error as exc:
            raise _driver_error(exc, self.where) from exc
        return None if row is None else str(row[0])

    def _migration_lock(self) -> Path:
        return self.path.with_name("bus.lock")

    @contextlib.contextmanager
    def write(self, *, wait: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction: the write queue's turn, ``BEGIN IMMEDIATE``, commit (or roll back).

        ``wait=False``: only if it can begin at once (no other write of this process under way, the
        write queue's flock free, SQLite's write lock free), else WouldWait before anything is done;
        inside ``alarm_flock.allowed()`` an adapter's loop may wait for the flock briefly (writequeue.py).
        """
        if not self._lock.acquire(blocking=wait):
            raise WouldWait
        try:
            fd = self._queue.acquire(self.settings.busy_timeout_seconds) if wait else self._queue.try_acquire()
            if fd is None:
                raise WouldWait
            try:
                self._begin(wait)
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                raise _driver_error(exc, self.where) from exc
            finally:
                WriteQueue.release(fd)
        finally:
            self._lock.release()

    async def write_in_turn(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` (a write through ``write``) in this file's writer thread, which waits for the
        write lock and runs it at once (writer_thread.py); BusUnavailable after the busy timeout."""
        result: T = await self._writer.run(call, *args, timeout=self.settings.busy_timeout_seconds)
        return result

    def _begin(self, wait: bool) -> None:
        if wait:
            self._conn.execute("BEGIN IMMEDIATE")
            return
        # A writer of another core that bypasses the flock may hold SQLite's lock: do not sleep in
        # the busy handler for it here.
        self._conn.execute("PRAGMA busy_timeout = 0")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise WouldWait from exc
            raise
        finally:
            self._conn.execute(f"PRAGMA busy_timeout = {int(self.settings.busy_timeout_seconds * 1000)}")

    def register(self, name: str, **fields: Any) -> Peer:
        """Take ``name`` for this session (presence.arriving's fields); NameTaken if a live session holds it."""
        peer = arriving(name, **fields)
        with self.write() as conn:
            take_name(DriverTx(conn), peer, self.settings.stale_seconds)
        return peer

    def unregister(self, name: str, session_id: str) -> None:
        with self.write() as conn:
            conn.execute(LEAVE, {"name": name, "session_id": session_id})

    def close(self) -> None:
        self._writer.close()
        with self._lock:
            self._conn.close()
        super().close()
