"""Every refusal of the core comes with a clear message: names, bodies, self-send, locks, corruption."""

import os
import socket
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import sqlite_only

from agentbus.core import (
    BodyTooLarge,
    Bus,
    BusUnavailable,
    InvalidName,
    NameTaken,
    RateLimited,
    SelfSend,
    Settings,
    UnknownMessage,
)
from agentbus.core.errors import InvalidBody
from agentbus.core.names import sanitize_name, validate_name


@pytest.mark.parametrize(
    "name",
    ["", "Alice", "a b", "x" * 33, "émile", "a/b", "../etc", "*", "a\x00b", "name\n"],
)
def test_invalid_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(InvalidName, match=r"use 1-32 characters from a-z, 0-9, '_' and '-'"):
        validate_name(name)


@pytest.mark.parametrize("value", [5, None, ["bob"], {"to": "bob"}])
def test_non_string_names_are_refused(value: object) -> None:
    with pytest.raises(InvalidName, match="must be a string"):
        validate_name(value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Frontend", "frontend"), ("  my agent!! ", "my-agent"), ("a" * 40, "a" * 32), ("Über/Team", "ber-team")],
)
def test_sanitize_name_like_the_seed(raw: str, expected: str) -> None:
    assert sanitize_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "!!!", None])
def test_empty_names_become_generated(raw: str | None) -> None:
    name = sanitize_name(raw)
    assert name.startswith("agent-")
    assert len(name) == 10
    validate_name(name)


def test_invalid_recipient_and_sender(bus: Bus) -> None:
    with pytest.raises(InvalidName, match="invalid recipient name 'Bob!'"):
        bus.send("alice", "Bob!", "hi")
    with pytest.raises(InvalidName, match="invalid sender name"):
        bus.send("", "bob", "hi")


def test_self_send_is_refused(bus: Bus) -> None:
    with pytest.raises(SelfSend, match="you are 'alice'; a session cannot send a message to itself"):
        bus.send("alice", "alice", "hi")


def test_body_limits(make_bus: Callable[..., Bus]) -> None:
    bus = make_bus(max_body=1024)
    bus.send("alice", "bob", "x" * 1024)
    with pytest.raises(BodyTooLarge, match=r"text is 1025 bytes; the limit is 1024 bytes \(AGENTBUS_MAX_BODY\)"):
        bus.send("alice", "bob", "x" * 1025)
    with pytest.raises(BodyTooLarge, match="text is 1026 bytes"):
        bus.send("alice", "bob", "é" * 513)
    with pytest.raises(InvalidBody, match="text is empty"):
        bus.send("alice", "bob", "")
    with pytest.raises(InvalidBody, match="NUL"):
        bus.send("alice", "bob", "a\x00b")
    with pytest.raises(InvalidBody, match="lone surrogate"):
        bus.send("alice", "bob", "bad \ud800 text")
    with pytest.raises(InvalidBody, match="text must be a string, got int"):
        bus.send("alice", "bob", 42)
    assert [e.body for e in bus.pending("bob")] == ["x" * 1024]


def test_name_taken_on_register_and_rename(bus: Bus) -> None:
    bus.register("alice", session_id="one", adapter="test")
    with pytest.raises(NameTaken, match="name taken: 'alice' is held by a live session"):
        bus.register("alice", session_id="two", adapter="test")
    bus.register("bob", session_id="two", adapter="test")
    with pytest.raises(NameTaken, match="name taken: 'alice' is held by a live session"):
        bus.rename("bob", "alice", "two")
    with pytest.raises(InvalidName, match="invalid new name"):
        bus.rename("bob", "Not Valid", "two")


def test_reply_to_must_name_a_message_of_yours(bus: Bus) -> None:
    (first,) = bus.send("alice", "bob", "question").ids
    bus.send("bob", "alice", "answer", reply_to=first)
    with pytest.raises(UnknownMessage, match="reply_to=9999: no message with that id was sent to or by you"):
        bus.send("bob", "alice", "answer", reply_to=9999)
    with pytest.raises(UnknownMessage, match="no message with that id"):
        bus.send("carol", "alice", "nosy", reply_to=first)
    with pytest.raises(UnknownMessage, match="must be a message id"):
        bus.send("bob", "alice", "answer", reply_to="1")  # type: ignore[arg-type]


def test_rate_limit_per_sender(make_bus: Callable[..., Bus]) -> None:
    bus = make_bus(rate_limit_per_minute=5)
    for i in range(5):
        bus.send("chatty", "bob", f"m{i}")
    with pytest.raises(RateLimited, match=r"'chatty' sent 5 messages in the last minute; the limit is 5"):
        bus.send("chatty", "bob", "one too many")
    bus.send("quiet", "bob", "still fine")


@sqlite_only
def test_corrupt_bus_file_is_named(isolated_env: dict[str, str]) -> None:
    settings = Settings.from_env(isolated_env)
    settings.home.mkdir(mode=0o700)
    settings.db_path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(BusUnavailable, match=r"bus file .*bus\.db is corrupt or not an agentbus database"):
        Bus.open(settings)


@sqlite_only
def test_truncated_bus_file_is_named(bus: Bus) -> None:
    bus.send("alice", "bob", "hello")
    bus.close()
    db = bus.settings.db_path
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(db.read_bytes()[:1500])
    with pytest.raises(BusUnavailable, match="corrupt"):
        Bus.open(bus.settings).close()


@sqlite_only
def test_locked_bus_gives_a_clear_error_after_the_busy_timeout(make_bus: Callable[..., Bus]) -> None:
    bus = make_bus(busy_timeout_seconds=0.2)
    holder = sqlite3.connect(bus.settings.db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(BusUnavailable, match="stayed locked by another process longer than the busy timeout"):
            bus.send("alice", "bob", "blocked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    bus.send("alice", "bob", "after the lock")
    assert [e.body for e in bus.pending("bob")] == ["after the lock"]


@sqlite_only
def test_unknown_schema_revision_is_refused(bus: Bus) -> None:
    bus.close()
    with sqlite3.connect(bus.settings.db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(BusUnavailable, match="schema revision '9999', which this agentbus does not know"):
        Bus.open(bus.settings)


@sqlite_only
def test_group_writable_home_is_refused(isolated_env: dict[str, str]) -> None:
    settings = Settings.from_env(isolated_env)
    settings.home.mkdir(mode=0o700)
    os.chmod(settings.home, 0o770)
    with pytest.raises(BusUnavailable, match=r"writable by group or others \(mode 770\); run: chmod 700"):
        Bus.open(settings)


@sqlite_only
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown the directory to another user")
def test_home_owned_by_someone_else_is_refused(isolated_env: dict[str, str]) -> None:
    settings = Settings.from_env(isolated_env)
    settings.home.mkdir(mode=0o700)
    os.chown(settings.home, 54321, 54321)
    with pytest.raises(BusUnavailable, match="is owned by uid 54321, not you"):
        Bus.open(settings)


@sqlite_only
def test_home_and_db_are_private(bus: Bus) -> None:
    assert stat.S_IMODE(bus.settings.home.stat().st_mode) == 0o700
    assert stat.S_IMODE(bus.settings.db_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(bus.settings.wake_dir.stat().st_mode) == 0o700


def test_bad_settings_values_are_named() -> None:
    with pytest.raises(ValueError, match="AGENTBUS_MAX_BODY='big' is not a number"):
        Settings.from_env({"AGENTBUS_MAX_BODY": "big"})
    with pytest.raises(ValueError, match="must not be negative"):
        Settings.from_env({"AGENTBUS_LEASE_SECONDS": "-1"})


@pytest.mark.timeout(30)
def test_a_postgresql_server_that_never_answers_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    """A listener that accepts TCP but never speaks (a hung or black-holed server): the open gives up
    after the connect timeout (the busy timeout, at least 2 s) instead of hanging start-up."""
    pytest.importorskip("psycopg")
    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        port = silent.getsockname()[1]
        url = f"postgresql+psycopg://agentbus@127.0.0.1:{port}/postgres"
        started = time.monotonic()
        with pytest.raises(BusUnavailable, match=r"cannot reach the bus database at .*127\.0\.0\.1.*timeout"):
            Bus.open(Settings(home=tmp_path / "bus", db_url=url, busy_timeout_seconds=1.0))
        waited = time.monotonic() - started
    assert waited < 15, f"gave up only after {waited:.1f} s"
