"""Start the node-store adapter after writing AGENTBUS_HOME/bus.db in a schema of its own (the seed's).

Plays an adapter that keeps its own SQLite bus at the standard path but not the shared schema of
SPEC section 11, as the TypeScript seed does (a Drizzle schema). Standard library only.
"""

import os
import sqlite3
import sys
from pathlib import Path

SEED_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (id integer PRIMARY KEY AUTOINCREMENT NOT NULL, sender text NOT NULL,
    recipient text NOT NULL, body text NOT NULL, created_at integer NOT NULL, delivered_at integer);
CREATE INDEX IF NOT EXISTS idx_inbox ON messages (recipient, delivered_at);
CREATE TABLE IF NOT EXISTS peers (name text PRIMARY KEY NOT NULL, pid integer NOT NULL, started_at integer NOT NULL,
    last_seen integer NOT NULL);
CREATE TABLE IF NOT EXISTS __drizzle_migrations (id integer PRIMARY KEY, hash text NOT NULL, created_at numeric);
"""

home = Path(os.environ.get("AGENTBUS_HOME") or Path.home() / ".agentbus")
home.mkdir(mode=0o700, parents=True, exist_ok=True)  # several first starts may race here
if not home.stat().st_mode & 0o022:  # the adapter itself refuses (and explains) a writable home
    with sqlite3.connect(home / "bus.db") as conn:
        conn.executescript(SEED_SCHEMA)
    (home / "bus.db").chmod(0o600)
os.execvp(sys.argv[1], sys.argv[1:])
