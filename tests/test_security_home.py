"""SEC-1 through the adapter: a private bus (home 0700, files 0600) and a refused unsafe home."""

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agentbus.core import Bus, Settings
from fakeclaude import HandshakeError, Sandbox, Session

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """The umask the adapter processes inherit (this process's, for the block)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def refused(session: Session) -> str:
    """Start on an unsafe home: the adapter exits non-zero with one ``agentbus:`` line; that line."""
    with pytest.raises(HandshakeError):
        session.start(timeout=15)
    code = session.wait_exit(5)
    assert code not in (None, 0), f"exit code {code}"
    lines = [line for line in session.stderr.splitlines() if line.startswith("agentbus: ")]
    assert len(lines) == 1, session.stderr
    assert "Traceback" not in session.stderr, session.stderr
    return lines[0]


def test_a_new_bus_is_private_even_under_umask_0(fakeclaude_bus: Sandbox) -> None:
    with umask(0):
        alice, bob = fakeclaude_bus.start_sessions("alice", "bob")
        assert not alice.call_tool("send_message", {"to": "bob", "text": "private"}).is_error
        assert bob.wait_for_channel(timeout=5).content == "private"
    home = fakeclaude_bus.bus_home
    assert mode(home) == 0o700
    assert mode(home / "wake") == 0o700
    assert mode(home / "bus.db") == 0o600
    files = [p for p in home.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"bus.db", "alice", "bob"}
    loose = {str(p.relative_to(home)): oct(mode(p)) for p in files if mode(p) & 0o077}
    assert loose == {}, f"bus files others can read or write: {loose}"


def test_loose_files_of_an_existing_bus_are_made_private(fakeclaude_bus: Sandbox) -> None:
    settings = Settings(home=fakeclaude_bus.bus_home)
    with Bus.open(settings) as bus:
        bus.send("carol", "bob", "left from before")
    db = settings.db_path
    db.chmod(0o644)
    for suffix in ("-wal", "-shm"):  # a journal left behind by a crashed writer, readable by everyone
        journal = Path(f"{db}{suffix}")
        journal.write_bytes(b"") if not journal.exists() else None
        journal.chmod(0o644)
    bob = fakeclaude_bus.start_session("bob")
    assert bob.wait_for_channel(timeout=5).content == "left from before"
    assert {p.name: oct(mode(p)) for p in settings.home.iterdir() if p.name.startswith("bus.db")} == {
        name: "0o600" for name in ("bus.db", "bus.db-wal", "bus.db-shm")
    }


@pytest.mark.parametrize("unsafe", [0o770, 0o720, 0o702, 0o777, 0o1777], ids=oct)
def test_a_group_or_world_writable_home_is_refused(fakeclaude_bus: Sandbox, unsafe: int) -> None:
    home = fakeclaude_bus.bus_home
    home.mkdir(mode=0o700)
    home.chmod(unsafe)
    line = refused(fakeclaude_bus.session("alice"))
    assert "writable by group or others" in line, line
    assert f"chmod 700 {home}" in line, line
    assert mode(home) == unsafe  # refused, not silently "fixed"
    assert list(home.iterdir()) == []  # and nothing written into it first


@pytest.mark.skipif(not IS_ROOT, reason="giving a directory to another user needs root")
def test_a_home_owned_by_another_user_is_refused(fakeclaude_bus: Sandbox) -> None:
    home = fakeclaude_bus.bus_home
    home.mkdir(mode=0o700)
    os.chown(home, 65534, 65534)
    line = refused(fakeclaude_bus.session("alice"))
    assert "owned by uid 65534" in line, line
    assert "AGENTBUS_HOME" in line, line
    assert list(home.iterdir()) == []


@pytest.mark.skipif(not IS_ROOT, reason="giving a directory to another user needs root")
def test_a_symlinked_home_into_another_users_directory_is_refused(fakeclaude_bus: Sandbox) -> None:
    target = fakeclaude_bus.root / "theirs"
    target.mkdir(mode=0o700)
    os.chown(target, 65534, 65534)
    fakeclaude_bus.bus_home.symlink_to(target)
    line = refused(fakeclaude_bus.session("alice"))
    assert "owned by uid 65534" in line, line
    assert list(target.iterdir()) == []
