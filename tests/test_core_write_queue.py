"""The write queue: writers of one SQLite bus take turns on bus.write.lock before BEGIN IMMEDIATE."""

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest
from conftest import sqlite_only

from agentbus.core import Bus, Settings
from agentbus.core.errors import BusUnavailable, NameTaken
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
