"""A bus written by the TypeScript agentbus (the seed): recognised, refused with one sentence, migrated
by ``agentbus migrate`` with its mail, which then arrives over real adapter processes."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import sqlite_only
from test_reliability_badbus import doctor, refusal

from fakeclaude import Sandbox

pytestmark = sqlite_only

#: The seed's schema, as its Drizzle migration writes it.
SEED_SCHEMA = """
CREATE TABLE messages (id integer PRIMARY KEY AUTOINCREMENT NOT NULL, sender text NOT NULL,
    recipient text NOT NULL, body text NOT NULL, created_at integer NOT NULL, delivered_at integer);
CREATE INDEX idx_inbox ON messages (recipient, delivered_at);
CREATE TABLE peers (name text PRIMARY KEY NOT NULL, pid integer NOT NULL, started_at integer NOT NULL,
    last_seen integer NOT NULL);
CREATE TABLE __drizzle_migrations (id integer PRIMARY KEY, hash text NOT NULL, created_at numeric);
"""
SENT_MS = 1_764_000_000_000  # 2025-11-24, in the seed's epoch milliseconds


def write_seed_bus(home: Path, *, peer_pid: int) -> Path:
    """A seed bus: two pending messages alice -> bob, one delivered, a peer row with ``peer_pid``."""
    home.mkdir(mode=0o700, exist_ok=True)
    path = home / "bus.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SEED_SCHEMA)
        conn.executemany(
            "INSERT INTO messages (sender, recipient, body, created_at, delivered_at) VALUES (?, ?, ?, ?, ?)",
            [
                ("carol", "alice", "old news", SENT_MS - 60_000, SENT_MS - 50_000),
                ("alice", "bob", "first, from the seed", SENT_MS, None),
                ("alice", "bob", "second, from the seed", SENT_MS + 1_000, None),
            ],
        )
        conn.execute("INSERT INTO peers VALUES ('alice', ?, ?, ?)", (peer_pid, SENT_MS, SENT_MS))
    path.chmod(0o600)
    return path


def dump(path: Path) -> list[str]:
    """The SQL that rebuilds the file's content (closing a WAL database may rewrite its pages)."""
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def agentbus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "agentbus.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_a_seed_bus_is_named_by_the_adapter_and_doctor(fakeclaude_bus: Sandbox) -> None:
    path = write_seed_bus(fakeclaude_bus.bus_home, peer_pid=dead_pid())
    before = dump(path)
    line = refusal(fakeclaude_bus.session("bob"))
    assert "bus of the TypeScript agentbus" in line, line
    assert "2 pending messages" in line, line
    assert "agentbus migrate" in line, line
    assert str(path) in line, line
    assert dump(path) == before, "the refused seed bus was changed"
    checks = doctor(fakeclaude_bus.env)
    found = [c for c in checks.values() if "TypeScript agentbus" in c["summary"] + c.get("hint", "")]
    assert found, checks
    assert found[0]["status"] == "fail", checks
    assert "agentbus migrate" in found[0]["summary"] + found[0].get("hint", ""), found


def test_migrate_carries_the_mail_over_and_it_arrives(fakeclaude_bus: Sandbox) -> None:
    env = fakeclaude_bus.env
    write_seed_bus(fakeclaude_bus.bus_home, peer_pid=dead_pid())
    dry = agentbus(env, "migrate", "--dry-run")
    assert dry.returncode == 0, dry
    assert "would carry over 2 pending and 1 delivered" in dry.stdout, dry
    done = agentbus(env, "migrate")
    assert done.returncode == 0, done.stderr
    assert "2 pending and 1 delivered message(s) carried over" in done.stdout, done.stdout
    backups = list(fakeclaude_bus.bus_home.glob("bus.db.seed-*.bak"))
    assert len(backups) == 1
    assert f"kept as {backups[0]}" in done.stdout
    with sqlite3.connect(backups[0]) as conn:  # the backup is the seed's file, WAL included
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 3
    assert oct(backups[0].stat().st_mode & 0o777) == "0o600"

    bob = fakeclaude_bus.session("bob").start()
    first = bob.wait_for_channel(timeout=15)
    second = bob.wait_for_channel(timeout=15)
    assert [first.content, second.content] == ["first, from the seed", "second, from the seed"]
    assert {first.meta["from"], second.meta["from"]} == {"alice"}
    assert first.meta["ts"].startswith("2025-11-24"), first.meta  # the seed's time, not the migration's
    assert int(first.meta["msg_id"]) < int(second.meta["msg_id"])
    again = agentbus(env, "migrate")
    assert again.returncode != 0, again
    assert "not a bus of the TypeScript agentbus" in again.stderr, again


def test_migrate_refuses_while_seed_sessions_live(fakeclaude_bus: Sandbox) -> None:
    path = write_seed_bus(fakeclaude_bus.bus_home, peer_pid=os.getpid())
    done = agentbus(fakeclaude_bus.env, "migrate")
    assert done.returncode != 0, done.stdout
    assert f"pids {os.getpid()}" in done.stderr, done.stderr
    assert "--force" in done.stderr, done.stderr
    assert not list(fakeclaude_bus.bus_home.glob("bus.db.seed-*.bak"))
    forced = agentbus(fakeclaude_bus.env, "migrate", "--force")
    assert forced.returncode == 0, forced.stderr
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "alembic_version" in tables
    assert "__drizzle_migrations" not in tables


@pytest.mark.parametrize("what", ["no bus", "an agentbus bus"])
def test_migrate_without_a_seed_bus_changes_nothing(fakeclaude_bus: Sandbox, what: str) -> None:
    if what == "an agentbus bus":
        fakeclaude_bus.session("alice").start().shutdown()
    done = agentbus(fakeclaude_bus.env, "migrate")
    assert done.returncode == 1, done
    assert "nothing to migrate" in done.stderr, done


def test_other_tables_are_refused_as_not_an_agentbus_bus(fakeclaude_bus: Sandbox) -> None:
    home = fakeclaude_bus.bus_home
    home.mkdir(mode=0o700)
    with sqlite3.connect(home / "bus.db") as conn:
        conn.execute("CREATE TABLE peers (who text)")
    (home / "bus.db").chmod(0o600)
    line = refusal(fakeclaude_bus.session("bob"))
    assert "not an agentbus bus" in line, line
    assert "peers" in line, line
