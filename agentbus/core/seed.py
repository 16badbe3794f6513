"""The TypeScript agentbus's bus (the seed's Drizzle schema): recognise it and carry its mail over.

The seed keeps its bus at the same default path (``~/.agentbus/bus.db``) with its own tables:
``messages(id, sender, recipient, body, created_at, delivered_at)`` and ``peers(name, pid,
started_at, last_seen)``, times in epoch milliseconds, plus ``__drizzle_migrations``. Opening it as
an agentbus bus is refused with the sentence of :meth:`SeedBus.sentence`; ``agentbus migrate``
(cli/seed_migration.py) carries its mail over.

Read with the standard library's sqlite3: the file is foreign, opened read-only, and copied with
SQLite's online backup, which SQLAlchemy does not offer.
"""

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from agentbus.core.liveness import pid_alive

SEED_MESSAGE_COLUMNS = frozenset({"id", "sender", "recipient", "body", "created_at", "delivered_at"})
SEED_PEER_COLUMNS = frozenset({"name", "pid", "started_at", "last_seen"})
#: A seed time above this is in milliseconds (1e11 seconds is the year 5138).
MILLISECONDS_ABOVE = 1e11


@dataclass(frozen=True)
class SeedBus:
    """What a bus file of the TypeScript agentbus holds."""

    path: Path
    pending: int
    delivered: int
    live_pids: tuple[int, ...]

    def sentence(self) -> str:
        mail = f"{self.pending} pending message{'s' if self.pending != 1 else ''}"
        return (
            f"{self.path} is a bus of the TypeScript agentbus (its Drizzle schema, {mail}); "
            "run `agentbus migrate` to carry its mail over to this agentbus (the old file is kept as a backup)"
        )


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}  # table: a constant


def _seed_session_alive(pid: object) -> bool:
    """Whether a pid of the seed's peers table runs here (a foreign file: any value may be there)."""
    return isinstance(pid, int) and 0 < pid < 2**31 and pid_alive(pid, thorough=True)


def inspect_seed_bus(path: Path) -> SeedBus | None:
    """The seed bus at ``path``, or None when the file is missing or is not one."""
    if not path.is_file():
        return None
    try:
        with read_only(path) as conn:
            tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "alembic_version" in tables or not {"messages", "peers"} <= tables:
                return None
            if _columns(conn, "messages") != SEED_MESSAGE_COLUMNS or _columns(conn, "peers") != SEED_PEER_COLUMNS:
                return None
            pending = conn.execute("SELECT count(*) FROM messages WHERE delivered_at IS NULL").fetchone()[0]
            delivered = conn.execute("SELECT count(*) FROM messages WHERE delivered_at IS NOT NULL").fetchone()[0]
            pids = tuple(int(r[0]) for r in conn.execute("SELECT pid FROM peers") if _seed_session_alive(r[0]))
    except sqlite3.DatabaseError:
        return None
    return SeedBus(path=path, pending=int(pending), delivered=int(delivered), live_pids=pids)
