"""The bus file as SPEC.md section 11 defines it, read and written with plain sqlite3 (no agentbus core).

The kit must certify adapters written in any language, so it never imports ``agentbus.core``: it
looks at ``bus.db`` the way another core would, through the shared schema only.
"""

import contextlib
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

#: What another core on this host writes in ``peers.host`` and ``claimed_by`` (SCHEMA-5).
HOST = socket.gethostname()

PEER_COLUMNS = ("name", "session_id", "pid", "host", "adapter", "can_push", "started_at", "last_seen")


class BusFile:
    """``AGENTBUS_HOME/bus.db``. Every call opens its own short connection (fresh snapshot, no stale reads)."""

    def __init__(self, path: Path, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout

    def exists(self) -> bool:
        """True once the adapter created the file."""
        return self.path.is_file()

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (transactions are explicit), rows as sqlite3.Row."""
        if not self.exists():
            raise AssertionError(f"no bus file at {self.path}: the adapter did not create it")
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one read."""
        with self.connect() as conn:
            return list(conn.execute(sql, params))

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row (None if no row)."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write transaction started with BEGIN IMMEDIATE (SCHEMA-1); returns lastrowid."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.execute(sql, params)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return int(cursor.lastrowid or 0)

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[sqlite3.Connection]:
        """Hold the bus's write lock (BEGIN IMMEDIATE) for the duration of the block."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    # peers -------------------------------------------------------------------------------------

    def peers(self) -> list[sqlite3.Row]:
        """Every row of ``peers`` (live or not), by name."""
        return self.query("SELECT * FROM peers ORDER BY name")

    def peer(self, name: str) -> sqlite3.Row | None:
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

    def messages(self, where: str = "1", params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of ``messages`` matching ``where``, by id."""
        return self.query(f"SELECT * FROM messages WHERE {where} ORDER BY id", params)

    def message(self, message_id: int) -> sqlite3.Row:
        """One message row; AssertionError if there is none."""
        rows = self.messages("id = ?", (message_id,))
        if not rows:
            raise AssertionError(f"no message with id {message_id} in {self.path}")
        return rows[0]

    def to(self, recipient: str) -> list[sqlite3.Row]:
        """Messages addressed to ``recipient``, by id."""
        return self.messages("recipient = ?", (recipient,))

    def pending(self, recipient: str) -> list[sqlite3.Row]:
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
        return self.write(
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
