"""SPEC section 11: the bus on SQLite or PostgreSQL (location, WAL, locks, schema version, tables, claims, renames)."""

import contextlib
import os
import threading
import time

from conformance.busfile import HOST
from conformance.checks import send
from conformance.harness import Harness
from conformance.marks import requires, rule
from conformance.procs import group_pids
from conformance.rules import SCHEMA_VERSION
from conformance.schema import INDEXES, MESSAGES, PEERS, schema_problem
from fakeclaude import FakeClaudeError
from fakeclaude.waiting import wait_until


def affinity(declared: str) -> str:
    """SQLite's type affinity of a declared column type (section 3.1 of its datatype documentation)."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in upper or not upper:
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


@rule("SCHEMA-1")
@requires("sqlite_bus", why="SCHEMA-1 bus.db location and WAL mode")
@requires("shared_bus")
def test_bus_file_location_and_wal(harness: Harness) -> None:
    """SCHEMA-1: The bus is the SQLite database `AGENTBUS_HOME/bus.db` (default `~/.agentbus/bus.db`), in
    WAL mode, used with a busy timeout (default 5 s)."""
    harness.start("alice")
    assert harness.db.exists()
    assert (harness.bus_home / "bus.db").is_file()
    assert harness.db.scalar("PRAGMA journal_mode") == "wal"


@rule("SCHEMA-1")
@requires("shared_bus")
def test_a_write_waits_for_a_short_lock(harness: Harness) -> None:
    """SCHEMA-1: ... used with a busy timeout (default 5 s). Every write transaction starts with
    `BEGIN IMMEDIATE`.

    While the kit holds the write lock for 0.6 s (SQLite: BEGIN IMMEDIATE; PostgreSQL: the tables
    locked IN EXCLUSIVE MODE), a send waits for it instead of failing."""
    alice = harness.start("alice")
    assert harness.db.exists()
    outcome: dict[str, object] = {}
    with harness.db.write_lock():
        thread = threading.Thread(
            target=lambda: outcome.update(result=alice.call_tool("send_message", {"to": "bob", "text": "waited"}))
        )
        started = time.monotonic()
        thread.start()
        time.sleep(0.6)  # holds the lock on purpose: the adapter must wait for it (busy timeout)
    thread.join(10)
    result = outcome.get("result")
    assert result is not None, f"a send during a short lock failed: {result}"
    assert not result.is_error, f"a send during a short lock failed: {result}"  # type: ignore[attr-defined]
    assert time.monotonic() - started >= 0.5
    assert [r["body"] for r in harness.db.to("bob")] == ["waited"]


@rule("SCHEMA-2")
@requires("shared_bus")
def test_schema_version_is_the_single_alembic_row(harness: Harness) -> None:
    """SCHEMA-2: The schema version is the single row of `alembic_version.version_num`."""
    harness.start("alice")
    rows = harness.db.query("SELECT version_num FROM alembic_version")
    assert [r[0] for r in rows] == [SCHEMA_VERSION], f"alembic_version rows: {[tuple(r) for r in rows]}"


@rule("SCHEMA-2")
@requires("sqlite_bus", why="SCHEMA-2 migration flock on AGENTBUS_HOME/bus.lock")
@requires("shared_bus")
def test_migration_lock_file(harness: Harness) -> None:
    """SCHEMA-2: ... Migrations are applied under an exclusive `flock` on `AGENTBUS_HOME/bus.lock`."""
    harness.start("alice")
    assert (harness.bus_home / "bus.lock").exists(), "no bus.lock next to bus.db"


@rule("SCHEMA-2")
@requires("shared_bus")
def test_unknown_schema_revision_is_refused(harness: Harness) -> None:
    """SCHEMA-2: ... A core refuses a bus whose revision it does not know."""
    harness.start("setup").close()
    harness.db.write("UPDATE alembic_version SET version_num = '9999'")
    session = harness.session("bob")
    with contextlib.suppress(FakeClaudeError):
        session.start(8)
    wait_until(lambda: session.returncode is not None, 8, "the adapter to exit on an unknown revision")
    assert session.returncode != 0, "the adapter ran on a bus of an unknown schema revision"
    assert harness.db.scalar("SELECT version_num FROM alembic_version") == "9999", "the unknown revision was changed"


@rule("SCHEMA-2")
@requires("shared_bus")
def test_fresh_bus_race_of_several_first_starts(harness: Harness) -> None:
    """SCHEMA-2: ... Migrations are applied under an exclusive `flock` on `AGENTBUS_HOME/bus.lock`.

    Five adapters start at once on a bus nobody has opened yet (a new AGENTBUS_HOME; on PostgreSQL
    a new empty database), twice (the race is timing-dependent): all come up on one bus."""
    names = ["r1", "r2", "r3", "r4", "r5"]
    for attempt in range(2):
        env, bus = harness.fresh_bus(f"race-{attempt}")
        sessions = harness.start_many(names, env=env, fresh_race=True)
        peers = {r["name"] for r in bus.peers()}
        assert peers >= set(names), f"attempt {attempt}: registered {sorted(peers)}"
        version = bus.query("SELECT version_num FROM alembic_version")
        assert [r[0] for r in version] == [SCHEMA_VERSION]
    send(sessions[0], "r2", "after the race")
    sessions[1].assert_channel("after the race", within=5)


#: What a column of SQLite type affinity (SCHEMA-3) may be declared as in PostgreSQL. REAL is
#: ``double precision`` only: ``real`` (4 bytes) cannot hold epoch seconds to the millisecond.
PG_TYPES = {
    "TEXT": ("text", "character varying"),
    "INTEGER": ("integer", "bigint"),
    "REAL": ("double precision",),
    "NUMERIC": ("boolean",),
}


def _type_matches(harness: Harness, declared: str, wanted: str) -> bool:
    if harness.db.kind == "sqlite":
        return affinity(declared) == wanted
    return declared.split("(")[0].strip() in PG_TYPES[wanted]


@rule("SCHEMA-3")
@requires("shared_bus")
def test_tables_columns_and_indexes(harness: Harness) -> None:
    """SCHEMA-3: Tables (times are Unix epoch seconds as REAL, UTC): `peers(...)`, `messages(...)` with
    indexes `ix_messages_pending(recipient, delivered_at, id)` and `ix_messages_sender_time(sender,
    created_at)`.

    On PostgreSQL the same tables with the matching types (REAL is double precision, BOOLEAN is
    boolean) and messages.id from a sequence (never reused, like AUTOINCREMENT)."""
    harness.start("alice")
    problem = schema_problem(harness.db)
    assert problem is None, problem
    for table, wanted in (("peers", PEERS), ("messages", MESSAGES)):
        columns = harness.db.columns(table)
        assert set(columns) == set(wanted), f"{table} columns: {sorted(columns)}"
        for name, (aff, notnull, pk) in wanted.items():
            column = columns[name]
            assert _type_matches(harness, column.type, aff), f"{table}.{name} has type {column.type!r} ({aff} wanted)"
            assert column.notnull == notnull or pk, f"{table}.{name} NOT NULL is {column.notnull}"
            assert column.pk == bool(pk), f"{table}.{name} primary key is {column.pk}"
    never_reused, evidence = harness.db.id_never_reused("messages")
    assert never_reused, f"messages.id is not AUTOINCREMENT (ids could be reused): {evidence}"
    for index, indexed_columns in INDEXES.items():
        indexed = harness.db.index_columns(index)
        assert indexed == indexed_columns, f"index {index}: {indexed or 'missing'}"


@rule("SCHEMA-4")
@requires("shared_bus")
def test_delivered_rows_are_stamped_and_unclaimed(harness: Harness) -> None:
    """SCHEMA-4: A row is pending while `delivered_at IS NULL`. To claim, in one write transaction: ...
    set `claimed_by`, `claimed_at`, `attempts = attempts + 1` on the oldest pending rows (by id). After a
    push, set `delivered_at` and clear the claim; after a failed push, clear the claim."""
    alice, bob = harness.start_many(["alice", "bob"])
    for i in range(3):
        send(alice, "bob", f"stamp {i}")
    wait_until(lambda: len(bob.channel_events) == 3, 5, "three pushes")
    wait_until(lambda: not harness.db.pending("bob"), 3, "the delivered stamps")
    for row in harness.db.to("bob"):
        assert row["delivered_at"] is not None, dict(row)
        assert row["delivered_at"] >= row["created_at"], dict(row)
        assert row["claimed_by"] is None, f"claim not cleared: {dict(row)}"
        assert row["claimed_at"] is None, f"claim not cleared: {dict(row)}"
        assert row["attempts"] >= 1, f"attempts not counted: {dict(row)}"


@rule("SCHEMA-5")
@requires("shared_bus")
@requires("channel_door")  # a push stuck in a full stdout pipe
def test_claimed_by_names_host_pid_and_session(harness: Harness) -> None:
    """SCHEMA-5: `claimed_by` is `<host>:<pid>:<session>` so any process on the same host can tell that a
    claimer died.

    Seen while bob's push is stuck in a full pipe."""
    alice = harness.start("alice")
    bob = harness.raw("bob", pipe_size=4096)
    for i in range(3):
        send(alice, "bob", f"{i}:" + "c" * 3000)

    def claim() -> str | None:
        return next((r["claimed_by"] for r in harness.db.pending("bob") if r["claimed_by"]), None)

    claimed_by = wait_until(claim, 5, "a claimed row of bob")
    host, _, rest = str(claimed_by).partition(":")
    pid, _, session = rest.partition(":")
    assert host == HOST, f"claimed_by {claimed_by!r} does not start with this host {HOST!r}"
    assert pid.isdigit(), f"claimed_by {claimed_by!r}: not the adapter's pid"
    assert int(pid) in group_pids(bob.pid), f"claimed_by {claimed_by!r}: not the adapter's pid"
    assert session, f"claimed_by {claimed_by!r} has no session part"


@rule("SCHEMA-6")
@requires("shared_bus")
def test_rename_moves_pending_rows_and_clears_claims(harness: Harness) -> None:
    """SCHEMA-6: Renaming moves the pending rows (`recipient`) and the `peers` row in one transaction,
    clearing their claims."""
    bob = harness.start("bob", env={"AGENTBUS_SAFETY_POLL_SECONDS": "30"})
    pid = harness.peer_row(bob)["pid"]
    foreign = f"{HOST}:{os.getpid()}:conformance-lease"
    ids = [
        harness.db.insert_message("alice", "bob", f"moving {i}", claimed_by=foreign, claimed_at=time.time())
        for i in range(2)
    ]
    result = bob.call_tool("set_name", {"name": "robert"})
    assert not result.is_error, result.text
    assert "bob" not in harness.db.peer_names()
    assert harness.db.peer("robert")["pid"] == pid  # type: ignore[index]
    for message_id in ids:
        row = harness.db.message(message_id)
        assert row["recipient"] == "robert", f"pending row not moved: {dict(row)}"
        assert row["claimed_by"] != foreign, f"the old claim was not cleared: {dict(row)}"
