"""The bus as SPEC.md section 11 defines it, read and written like another core would (no agentbus core).

The kit must certify adapters written in any language, so it never imports ``agentbus.core``: it
looks at the bus through the shared schema only. ``BusReader`` holds what the suite asks of a bus
(peers, messages, inserting rows as another core would, holding its locks, describing its tables);
``BusFile`` implements it for the SQLite file ``AGENTBUS_HOME/bus.db`` with plain sqlite3 and
``BusDatabase`` for a PostgreSQL database (``AGENTBUS_DB_URL``) with psycopg 3.

SQL handed to ``query``/``scalar``/``write`` uses ``?`` placeholders on both backends (they are
rewritten to psycopg's ``%s``); rows are ``Row`` objects, indexable by position and by column name.
"""

import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.databases import connect, hide_password

#: What another core on this host writes in ``peers.host`` and ``claimed_by`` (SCHEMA-5).
HOST = socket.gethostname()

PEER_COLUMNS = ("name", "session_id", "pid", "host", "adapter", "can_push", "started_at", "last_seen")


class Row(tuple[Any, ...]):
    """A result row: ``row[0]`` by position, ``row["id"]`` by column name; ``dict(row)`` maps names to values."""

    _columns: tuple[str, ...]

    def __new__(cls, columns: Sequence[str], values: Iterable[Any]) -> "Row":
        row = super().__new__(cls, values)
        row._columns = tuple(columns)
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return super().__getitem__(self._columns.index(key))
            except ValueError:
                raise KeyError(key) from None
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        """Column names, in select order."""
        return list(self._columns)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._columns, self, strict=False))!r})"


@dataclass(frozen=True)
class Column:
    """A column as the database declares it: its declared type, NOT NULL, part of the primary key."""

    name: str
    type: str
    notnull: bool
    pk: bool


class BusReader:
    """What the suite reads and writes on a bus, whichever database holds it.

    Subclasses provide ``kind``, ``where``, ``exists``, ``query``, ``write``, ``insert``, ``write_lock``,
    ``exclusive_lock``, ``columns``, ``index_columns`` and ``id_never_reused``; everything else is
    written once on top of them in the shared schema.
    """

    #: ``sqlite`` or ``postgresql``.
    kind = ""

    @property
    def where(self) -> str:
        """The bus, for messages: the file path or the URL without its password."""
        raise NotImplementedError

    def exists(self) -> bool:
        """True once an adapter created the bus (its tables exist)."""
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Rows of one read (a fresh snapshot)."""
        raise NotImplementedError

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write transaction (SQLite: started with BEGIN IMMEDIATE, SCHEMA-1); the rows it changed."""
        raise NotImplementedError

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One ``INSERT`` into a table with an ``id`` column, in its own write transaction; the new id."""
        raise NotImplementedError

    def write_lock(self) -> contextlib.AbstractContextManager[Any]:
        """Hold the bus's write lock for the block: other writers wait, readers do not."""
        raise NotImplementedError

    def exclusive_lock(self) -> contextlib.AbstractContextManager[Any]:
        """Hold the strongest lock another core could take on the bus for the block."""
        raise NotImplementedError

    def columns(self, table: str) -> dict[str, Column]:
        """The columns of ``table`` by name (empty if there is no such table)."""
        raise NotImplementedError

    def index_columns(self, index: str) -> list[str]:
        """The columns of ``index``, in order (empty if there is no such index)."""
        raise NotImplementedError

    def id_never_reused(self, table: str) -> tuple[bool, str]:
        """Whether ``table.id`` comes from a counter that never hands out an id twice, and the evidence."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections the reader keeps open (the SQLite reader keeps none)."""

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row (None if no row)."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    # peers -------------------------------------------------------------------------------------

    def peers(self) -> list[Row]:
        """Every row of ``peers`` (live or not), by name."""
        return self.query("SELECT * FROM peers ORDER BY name")

    def peer(self, name: str) -> Row | None:
        """The ``peers`` row holding ``name``."""
        rows = self.query("SELECT * FROM peers WHERE name = ?", (name,))
        return rows[0] if rows else None

    def peer_names(self) -> set[str]:
        """Names in ``peers``."""
        return {row["name"] for row in self.peers()}

    def insert_peer(
        self,
        name: str,
        *,
        pid: int,
        host: str = HOST,
        last_seen: float | None = None,
        can_push: bool = True,
        adapter: str = "conformance-kit",
        session_id: str = "conformance",
    ) -> None:
        """Register a peer row directly, as another core would."""
        now = time.time()
        seen = now if last_seen is None else last_seen
        self.write(
            "INSERT INTO peers (name, session_id, pid, host, adapter, can_push, started_at, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, session_id, pid, host, adapter, can_push, seen, seen),
        )

    # messages ----------------------------------------------------------------------------------

    def messages(self, where: str = "1 = 1", params: Sequence[Any] = ()) -> list[Row]:
        """Rows of ``messages`` matching ``where``, by id."""
        return self.query(f"SELECT * FROM messages WHERE {where} ORDER BY id", params)

    def message(self, message_id: int) -> Row:
        """One message row; AssertionError if there is none."""
        rows = self.messages("id = ?", (message_id,))
        if not rows:
            raise AssertionError(f"no message with id {message_id} in {self.where}")
        return rows[0]

    def to(self, recipient: str) -> list[Row]:
        """Messages addressed to ``recipient``, by id."""
        return self.messages("recipient = ?", (recipient,))

    def pending(self, recipient: str) -> list[Row]:
        """Undelivered messages of ``recipient``, by id."""
        return self.messages("recipient = ? AND delivered_at IS NULL", (recipient,))

    def delivered_ids(self, recipient: str) -> set[int]:
        """Ids stamped delivered for ``recipient``."""
        return {row["id"] for row in self.messages("recipient = ? AND delivered_at IS NOT NULL", (recipient,))}

    def insert_message(
        self,
        sender: str,
        recipient: str,
        body: str,
        *,
        created_at: float | None = None,
        delivered_at: float | None = None,
        claimed_by: str | None = None,
        claimed_at: float | None = None,
        reply_to: int | None = None,
    ) -> int:
        """Enqueue a message directly, as another core would (no wake: the adapter's trigger is not told)."""
        return self.insert(
            "INSERT INTO messages (sender, recipient, body, created_at, reply_to, delivered_at, "
            "claimed_by, claimed_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sender,
                recipient,
                body,
                time.time() if created_at is None else created_at,
                reply_to,
                delivered_at,
                claimed_by,
                claimed_at,
                1 if claimed_by else 0,
            ),
        )


# SQLite ------------------------------------------------------------------------------------------


def _sqlite_row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return Row([d[0] for d in cursor.description], values)


class BusFile(BusReader):
    """``AGENTBUS_HOME/bus.db``. Every call opens its own short connection (fresh snapshot, no stale reads)."""

    kind = "sqlite"

    def __init__(self, path: Path, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout

    @property
    def where(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        """True once the adapter created the file."""
        return self.path.is_file()

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (transactions are explicit), rows as ``Row``."""
        if not self.exists():
            raise AssertionError(f"no bus file at {self.path}: the adapter did not create it")
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        conn.row_factory = _sqlite_row
        try:
            yield conn
        finally:
            conn.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.connect() as conn:
            return list(conn.execute(sql, params))

    def _write(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.execute(sql, params)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return cursor

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._write(sql, params).rowcount)

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._write(sql, params).lastrowid or 0)

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[sqlite3.Connection]:
        """Hold the write lock (BEGIN IMMEDIATE) for the duration of the block."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    @contextlib.contextmanager
    def exclusive_lock(self) -> Iterator[sqlite3.Connection]:
        """Hold an exclusive lock (BEGIN EXCLUSIVE) for the duration of the block."""
        with self.connect() as conn:
            conn.execute("BEGIN EXCLUSIVE")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def columns(self, table: str) -> dict[str, Column]:
        rows = self.query(f"PRAGMA table_info({table})")
        return {r["name"]: Column(r["name"], str(r["type"]), bool(r["notnull"]), bool(r["pk"])) for r in rows}

    def index_columns(self, index: str) -> list[str]:
        return [r["name"] for r in self.query(f"PRAGMA index_info({index})")]

    def id_never_reused(self, table: str) -> tuple[bool, str]:
        sql = str(self.scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)) or "")
        return "AUTOINCREMENT" in sql.upper(), f"{table} is declared as: {sql}"


# PostgreSQL --------------------------------------------------------------------------------------


def _pg_sql(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (and a literal ``%`` to ``%%``), outside quoted strings too."""
    out = []
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
        if char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


def _pg_rows(cursor: Any) -> Any:
    names = [c.name for c in cursor.description or ()]
    return lambda values: Row(names, values)


class BusDatabase(BusReader):
    """The bus in a PostgreSQL database (``AGENTBUS_DB_URL``), through psycopg 3.

    Reads and single writes share one autocommit connection (each statement sees a fresh snapshot
    and is its own transaction); lock holders get connections of their own.
    """

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None
        self._guard = threading.Lock()

    @property
    def where(self) -> str:
        return hide_password(self.url)

    def _execute(self, sql: str, params: Sequence[Any]) -> Any:
        with self._guard:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.url)
                self._conn.row_factory = _pg_rows
            return self._conn.execute(_pg_sql(sql), tuple(params))

    def exists(self) -> bool:
        return bool(self._execute("SELECT to_regclass('peers') IS NOT NULL", ()).fetchone()[0])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._execute(sql, params).fetchall())

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._execute(sql, params).rowcount)

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._execute(sql + " RETURNING id", params).fetchone()[0])

    @contextlib.contextmanager
    def _locked(self, mode: str) -> Iterator[Any]:
        with connect(self.url, autocommit=False) as conn:
            conn.execute(f"LOCK TABLE peers, messages IN {mode} MODE")
            try:
                yield conn
            finally:
                conn.rollback()

    def write_lock(self) -> contextlib.AbstractContextManager[Any]:
        """``LOCK TABLE peers, messages IN EXCLUSIVE MODE``: writers wait, reads go on."""
        return self._locked("EXCLUSIVE")

    def exclusive_lock(self) -> contextlib.AbstractContextManager[Any]:
        """``LOCK TABLE peers, messages IN ACCESS EXCLUSIVE MODE``: even reads wait."""
        return self._locked("ACCESS EXCLUSIVE")

    def columns(self, table: str) -> dict[str, Column]:
        rows = self.query(
            "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull, "
            "EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary "
            "AND a.attnum = ANY (i.indkey)) AS pk "
            "FROM pg_attribute a WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            (table,),
        )
        return {r["name"]: Column(r["name"], str(r["type"]), bool(r["notnull"]), bool(r["pk"])) for r in rows}

    def index_columns(self, index: str) -> list[str]:
        rows = self.query(
            "SELECT a.attname FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord), pg_attribute a "
            "WHERE i.indexrelid = to_regclass(?) AND a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord",
            (index,),
        )
        return [r[0] for r in rows]

    def id_never_reused(self, table: str) -> tuple[bool, str]:
        rows = self.query(
            "SELECT column_default, is_identity FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? AND column_name = 'id'",
            (table,),
        )
        if not rows:
            return False, f"{table} has no id column"
        default, identity = rows[0]
        sequence = identity == "YES" or "nextval(" in str(default or "")
        return sequence, f"{table}.id default {default!r}, identity {identity}"

    def close(self) -> None:
        with self._guard:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
