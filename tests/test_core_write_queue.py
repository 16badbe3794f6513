"""The write queue: writers of one SQLite bus take turns on bus.write.lock before BEGIN IMMEDIATE."""

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from conftest import sqlite_only

from agentbus.core import Bus, Settings
from agentbus.core.errors import BusUnavailable, NameTaken, WouldWait
from agentbus.core.records import Outgoing
from agentbus.core.writequeue import WRITE_LOCK_FILE

pytestmark = sqlite_only


def _hold(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_writer_waits_for_its_turn_and_goes_when_the_lock_is_free(tmp_path: Path) -> None:
    with Bus(Settings(home=tmp_path / "bus", busy_timeout_seconds=10)) as bus:
        bus.register("bob", session_id="b", adapter="test")
        fd = _hold(tmp_path / "bus" / WRITE_LOCK_FILE)
        done = threading.Event()

        def send() -> None:
            bus.send("alice", "bob", "queued behind the holder")
            done.set()

        threading.Thread(target=send, daemon=True).start()
        assert not done.wait(0.5), "the write did not wait for the queue"
        os.close(fd)  # the holder is done: the waiter goes now, not at its next poll
        assert done.wait(5), "the waiting write never went"
        assert [e.body for e in bus.pending("bob")] == ["queued behind the holder"]


def test_a_turn_that_never_comes_fails_with_the_locked_error(tmp_path: Path) -> None:
    with Bus(Settings(home=tmp_path / "bus", busy_timeout_seconds=0.3)) as bus:
        fd = _hold(tmp_path / "bus" / WRITE_LOCK_FILE)
        try:
            started = time.monotonic()
            with pytest.raises(BusUnavailable, match="stayed locked by another process longer than the busy timeout"):
                bus.register("bob", session_id="b", adapter="test")
            assert time.monotonic() - started < 5
        finally:
            os.close(fd)
        bus.register("bob", session_id="b", adapter="test")  # the abandoned wait left no lock behind
        assert bus.peer("bob") is not None


def test_every_write_gives_its_turn_back_even_when_it_fails(tmp_path: Path) -> None:
    with Bus(Settings(home=tmp_path / "bus", busy_timeout_seconds=0.5)) as bus:
        bus.register("bob", session_id="b", adapter="test")
        bus.register("carol", session_id="c", adapter="test")
        for _ in range(50):
            with pytest.raises(NameTaken):
                bus.rename("bob", "carol", "b")  # refused inside the write transaction: rolled back
        fd = os.open(tmp_path / "bus" / WRITE_LOCK_FILE, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it now
        finally:
            os.close(fd)


def test_a_write_that_may_not_wait_says_so_and_writes_nothing_while_the_turn_is_taken(tmp_path: Path) -> None:
    """wait=False (an adapter's event loop trying a write before handing it to a thread): WouldWait, nothing written."""
    with Bus(Settings(home=tmp_path / "bus")) as bus:
        bus.register("bob", session_id="b", adapter="test")
        fd = _hold(tmp_path / "bus" / WRITE_LOCK_FILE)  # another process's turn
        try:
            started = time.monotonic()
            with pytest.raises(WouldWait):
                bus.send_many("alice", [Outgoing("bob", "not now")], wait=False)
            with pytest.raises(WouldWait):
                bus.claim("bob", "claimer-1", look_first=False, wait=False)
            assert time.monotonic() - started < 0.5, "a write that may not wait waited"
        finally:
            os.close(fd)
        assert bus.pending("bob") == []
        receipt = bus.send_many("alice", [Outgoing("bob", "now")], wait=False)[0]
        assert not isinstance(receipt, Exception) and len(receipt.ids) == 1
        assert [e.body for e in bus.claim("bob", "claimer-1", look_first=False, wait=False)] == ["now"]


def test_a_write_that_may_not_wait_gives_way_to_sqlites_own_lock_held_by_another_core(tmp_path: Path) -> None:
    """A foreign writer that skips the flock holds SQLite's lock: wait=False does not sleep in the busy handler."""
    with Bus(Settings(home=tmp_path / "bus", busy_timeout_seconds=5)) as bus:
        bus.register("bob", session_id="b", adapter="test")
        foreign = sqlite3.connect(tmp_path / "bus" / "bus.db", isolation_level=None)
        foreign.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            with pytest.raises(WouldWait):
                bus.mark_delivered([1], wait=False)
            assert time.monotonic() - started < 0.5
        finally:
            foreign.execute("ROLLBACK")
            foreign.close()
        bus.send("alice", "bob", "after the foreign writer")  # the busy timeout is back for waiting writes
        assert [e.body for e in bus.pending("bob")] == ["after the foreign writer"]


def test_a_broadcast_or_a_look_first_always_may_wait(tmp_path: Path) -> None:
    with Bus(Settings(home=tmp_path / "bus")) as bus:
        with pytest.raises(WouldWait):
            bus.send_many("alice", [Outgoing("*", "to everyone")], wait=False)
        with pytest.raises(WouldWait):
            bus.claim("bob", "claimer-1", wait=False)


def test_the_writer_thread_runs_a_write_the_moment_the_lock_is_free(tmp_path: Path) -> None:
    """A write an event loop could not begin at once goes to the bus file's writer thread, which
    blocks for the lock and runs it itself (writer_thread.py)."""
    with Bus(Settings(home=tmp_path / "bus", busy_timeout_seconds=10)) as bus:
        bus.register("bob", session_id="b", adapter="test")
        assert bus.file is not None
        fd = _hold(tmp_path / "bus" / WRITE_LOCK_FILE)

        async def queued_then_released() -> list[object]:
            assert bus.file is not None
            write = asyncio.ensure_future(bus.file.write_in_turn(bus.send_many, "alice", [Outgoing("bob", "in turn")]))
            await asyncio.sleep(0.3)
            assert not write.done(), "the write did not wait for the lock"
            os.close(fd)
            return list(await asyncio.wait_for(write, 5))

        (receipt,) = asyncio.run(queued_then_released())
        assert not isinstance(receipt, Exception) and len(receipt.ids) == 1
        assert [e.body for e in bus.pending("bob")] == ["in turn"]


def test_a_write_given_up_at_the_busy_timeout_is_never_run_later(tmp_path: Path) -> None:
    with Bus(Settings(home=tmp_path / "bus", busy_timeout_seconds=0.3)) as bus:
        bus.register("bob", session_id="b", adapter="test")
        fd = _hold(tmp_path / "bus" / WRITE_LOCK_FILE)

        async def given_up_then_another() -> None:
            assert bus.file is not None
            with pytest.raises(BusUnavailable, match="stayed locked by another process longer than the busy timeout"):
                await bus.file.write_in_turn(bus.send_many, "alice", [Outgoing("bob", "too late")])
            os.close(fd)
            # The writer thread takes writes in order: once this one ran, the given-up one had its turn.
            await bus.file.write_in_turn(bus.send_many, "alice", [Outgoing("bob", "in time")])

        asyncio.run(given_up_then_another())
        assert [e.body for e in bus.pending("bob")] == ["in time"]
