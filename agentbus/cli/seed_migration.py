"""Carrying a TypeScript agentbus bus over: a bus of the shared schema holding every message of the seed's.

``migrate_seed_bus`` keeps the seed's file as a backup and writes a bus of the shared schema holding
every message (pending ones stay pending, with sender, recipient, body, time and id). The seed's file
is read with the standard library's sqlite3 (a foreign file, opened read-only, copied with SQLite's
online backup); the new bus is written by its writer.
"""

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from agentbus.core.config import Settings
from agentbus.core.driver import open_driver
from agentbus.core.errors import BusUnavailable
from agentbus.core.names import sanitize_name
from agentbus.core.seed import MILLISECONDS_ABOVE, inspect_seed_bus, read_only
from agentbus.core.tx import Tx

_COPY = (
    "INSERT INTO messages (id, sender, recipient, body, created_at, delivered_at, attempts) "
    "VALUES (:id, :sender, :recipient, :body, :created_at, :delivered_at, :attempts)"
)


@dataclass(frozen=True)
class SeedMigration:
    """The outcome of :func:`migrate_seed_bus`."""

    bus: Path
    backup: Path
    pending: int
    delivered: int
    renamed: dict[str, str]


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
    with read_only(path) as source, sqlite3.connect(backup) as copy:
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

    bus = open_driver(Settings(home=home, db_url=f"sqlite:///{staging}"))
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

        def copy_rows(tx: Tx) -> None:
            for row in values:
                tx.run(_COPY, row)

        bus.writer.write(copy_rows)
    finally:
        bus.close()
    with contextlib.closing(sqlite3.connect(staging)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # The seed's WAL and shm belong to the old file: SQLite would replay them into the new one.
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(staging, path)
    for suffix in ("-wal", "-shm"):
        staging.with_name(staging.name + suffix).unlink(missing_ok=True)
    return SeedMigration(bus=path, backup=backup, pending=seed.pending, delivered=seed.delivered, renamed=renamed)
