"""The TypeScript agentbus's bus (the seed's Drizzle schema): recognise it and carry its mail over.

The seed keeps its bus at the same default path (``~/.agentbus/bus.db``) with its own tables:
``messages(id, sender, recipient, body, created_at, delivered_at)`` and ``peers(name, pid,
started_at, last_seen)``, times in epoch milliseconds, plus ``__drizzle_migrations``. Opening it as
an agentbus bus is refused with the sentence of :meth:`SeedBus.sentence`; ``agentbus migrate``
(:func:`migrate_seed_bus`) keeps the file as a backup and writes a bus of the shared schema holding
every message (pending ones stay pending, with sender, recipient, body, time and id).

Read with the standard library's sqlite3: the file is foreign, opened read-only, and copied with
SQLite's online backup, which SQLAlchemy does not offer.
"""

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from agentbus.core.errors import BusUnavailable
from agentbus.core.names import sanitize_name

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


@dataclass(frozen=True)
class SeedMigration:
    """The outcome of :func:`migrate_seed_bus`."""

    bus: Path
    backup: Path
    pending: int
    delivered: int
    renamed: dict[str, str]


def _connect_read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}  # table: a constant


def _seed_session_alive(pid: object) -> bool:
    """Whether a pid of the seed's peers table runs here (a foreign file: any value may be there)."""
    from agentbus.core.bus import pid_alive  # bus imports migrate, which imports this module

    return isinstance(pid, int) and 0 < pid < 2**31 and pid_alive(pid, thorough=True)


def inspect_seed_bus(path: Path) -> SeedBus | None:
    """The seed bus at ``path``, or None when the file is missing or is not one."""
    if not path.is_file():
        return None
    try:
        with _connect_read_only(path) as conn:
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


def _seconds(value: float | int | None) -> float | None:
    if value is None:
        return None
    return float(value) / 1000.0 if float(value) > MILLISECONDS_ABOVE else float(value)


def migrate_seed_bus(home: Path, *, force: bool = False) -> SeedMigration:
    """Replace ``home/bus.db`` of the seed by a bus of the shared schema holding the same mail.

    The seed file is first copied to ``bus.db.seed-<time>.bak`` (SQLite's backup, so a WAL is
    included). Refused while seed sessions are alive (their pids), unless ``force``: they would
    write into tables they do not know.
    """
    from sqlalchemy import insert

    from agentbus.core.bus import Bus
    from agentbus.core.config import Settings
    from agentbus.core.schema import messages

    path = home / "bus.db"
    seed = inspect_seed_bus(path)
    if seed is None:
        raise BusUnavailable(f"{path} is not a bus of the TypeScript agentbus; nothing to migrate")
    if seed.live_pids and not force:
        pids = ", ".join(str(p) for p in seed.live_pids)
        raise BusUnavailable(
            f"TypeScript agentbus sessions still use {path} (pids {pids}); end them first "
            "(or pass --force if those pids are not theirs)"
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = home / f"bus.db.seed-{stamp}.bak"
    with _connect_read_only(path) as source, sqlite3.connect(backup) as copy:
        source.backup(copy)
        rows = source.execute(
            "SELECT id, sender, recipient, body, created_at, delivered_at FROM messages ORDER BY id"
        ).fetchall()
    backup.chmod(0o600)

    staging = home / "bus.db.migrating"
    for suffix in ("", "-wal", "-shm"):
        staging.with_name(staging.name + suffix).unlink(missing_ok=True)
    renamed: dict[str, str] = {}

    def name(raw: str) -> str:
        clean = sanitize_name(raw)
        if clean != raw:
            renamed[raw] = clean
        return clean

    bus = Bus(Settings(home=home, db_url=f"sqlite:///{staging}"))
    try:
        values = [
            {
                "id": int(row[0]),
                "sender": name(str(row[1])),
                "recipient": name(str(row[2])),
                "body": str(row[3]),
                "created_at": _seconds(row[4]) or time.time(),
                "delivered_at": _seconds(row[5]),
                "attempts": 0,
            }
            for row in rows
        ]
        with bus.engine.begin() as conn:
            if values:
                conn.execute(insert(messages), values)
        with bus.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        bus.close()
    # The seed's WAL and shm belong to the old file: SQLite would replay them into the new one.
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(staging, path)
    for suffix in ("-wal", "-shm"):
        staging.with_name(staging.name + suffix).unlink(missing_ok=True)
    return SeedMigration(bus=path, backup=backup, pending=seed.pending, delivered=seed.delivered, renamed=renamed)
