"""The process's one writer: turns on bus.write.lock before BEGIN IMMEDIATE, group commit, deadlines."""

import asyncio
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import sqlite_only

from agentbus.core import Bus, Settings, mailbox, presence
from agentbus.core.busfile import SQLiteWriteDriver
from agentbus.core.errors import BusError, BusUnavailable, NameTaken
from agentbus.core.records import Outgoing, SendReceipt
from agentbus.core.writelock import WRITE_LOCK_FILE
from agentbus.core.writer import Work


def _hold(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


@sqlite_only
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


@sqlite_only
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


@sqlite_only
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


def _thread_names() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


def _send(bus: Bus, to: str, text: str) -> Work[list[SendReceipt | BusError]]:
    return mailbox.send(bus.settings, "alice", [Outgoing(to, text)])


@sqlite_only
def test_a_write_an_event_loop_can_begin_at_once_runs_on_the_loop(tmp_path: Path) -> None:
    """No thread hop for a write whose lock is free: the writer's thread is not even started."""
    with Bus(Settings(home=tmp_path / "bus")) as bus:
        bus.register("bob", session_id="b", adapter="test")

        async def on_the_loop() -> None:
            for n in range(20):
                (receipt,) = await bus.writer.submit(_send(bus, "bob", f"m{n}"))
                assert isinstance(receipt, SendReceipt)

        asyncio.run(on_the_loop())
        assert "agentbus-writer" not in _thread_names()
        assert len(bus.pending("bob")) == 20


@sqlite_only
def test_writes_queued_behind_the_lock_commit_together_the_moment_it_is_free(tmp_path: Path) -> None:
    """Group commit: the works handed over while the lock is held run in one transaction, in order."""
    with Bus(Settings(home=tmp_path / "bus", busy_timeout_seconds=10)) as bus:
        bus.register("bob", session_id="b", adapter="test")
        commits: list[str] = []
        driver = bus.writer.driver
        assert isinstance(driver, SQLiteWriteDriver)
        driver.conn.set_trace_callback(lambda statement: commits.append(statement) if statement == "COMMIT" else None)
        fd = _hold(tmp_path / "bus" / WRITE_LOCK_FILE)

        async def queued_then_released() -> list[object]:
            first = bus.writer.enqueue(_send(bus, "bob", "first"))
            await asyncio.sleep(0)  # one pass of the loop: the first is handed to the writer's thread
            others = [bus.writer.enqueue(_send(bus, "bob", f"then {n}")) for n in range(9)]
            done, _ = await asyncio.wait([first, *others], timeout=0.3)
            assert not done, "a write did not wait for the lock"
            os.close(fd)
            return [(await future)[0] for future in (first, *others)]

        receipts = asyncio.run(queued_then_released())
        assert all(isinstance(receipt, SendReceipt) for receipt in receipts)
        assert [e.body for e in bus.pending("bob")] == ["first", *(f"then {n}" for n in range(9))]
        # The first went to the writer's thread alone; the nine queued behind it committed together.
        assert len(commits) == 2


@sqlite_only
def test_writes_handed_over_in_one_pass_of_the_loop_commit_together(tmp_path: Path) -> None:
    """Group commit on the loop: pipelined sends handed over in one pass cost one transaction."""
    with Bus(Settings(home=tmp_path / "bus")) as bus:
        bus.register("bob", session_id="b", adapter="test")
        commits: list[str] = []
        driver = bus.writer.driver
        assert isinstance(driver, SQLiteWriteDriver)
        driver.conn.set_trace_callback(lambda statement: commits.append(statement) if statement == "COMMIT" else None)

        async def one_pass_then_another() -> None:
            await asyncio.gather(*(bus.writer.enqueue(_send(bus, "bob", f"burst {n}")) for n in range(10)))
            await bus.writer.submit(_send(bus, "bob", "later"))

        asyncio.run(one_pass_then_another())
        assert [e.body for e in bus.pending("bob")] == [*(f"burst {n}" for n in range(10)), "later"]
        assert len(commits) == 2


@sqlite_only
def test_a_work_that_raises_is_undone_alone(tmp_path: Path) -> None:
    """Each work runs in a savepoint: a refusal in the middle of a batch leaves the others committed."""
    with Bus(Settings(home=tmp_path / "bus", busy_timeout_seconds=10)) as bus:
        bus.register("bob", session_id="b", adapter="test")
        bus.register("carol", session_id="c", adapter="test")
        fd = _hold(tmp_path / "bus" / WRITE_LOCK_FILE)

        async def batch() -> tuple[object, BaseException | None, object]:
            before = bus.writer.enqueue(_send(bus, "bob", "before"))
            refused = bus.writer.enqueue(presence.rename("bob", "carol", "b", bus.settings.stale_seconds))
            after = bus.writer.enqueue(_send(bus, "bob", "after"))
            os.close(fd)
            await asyncio.wait([before, refused, after], timeout=5)
            return before.result(), refused.exception(), after.result()

        before, refused, after = asyncio.run(batch())
        assert isinstance(refused, NameTaken)
        assert all(isinstance(outcome, list) and isinstance(outcome[0], SendReceipt) for outcome in (before, after))
        assert [e.body for e in bus.pending("bob")] == ["before", "after"]
        assert bus.peer("bob") is not None
        assert bus.peer("carol") is not None


@sqlite_only
def test_a_write_past_its_deadline_fails_and_never_runs_later(tmp_path: Path) -> None:
    with Bus(Settings(home=tmp_path / "bus", busy_timeout_seconds=0.3)) as bus:
        bus.register("bob", session_id="b", adapter="test")
        fd = _hold(tmp_path / "bus" / WRITE_LOCK_FILE)

        async def given_up_then_another() -> None:
            with pytest.raises(BusUnavailable, match="stayed locked by another process longer than the busy timeout"):
                await bus.writer.submit(_send(bus, "bob", "too late"))
            os.close(fd)
            # The writer's thread takes batches in order: once this one ran, the given-up one had its turn.
            await bus.writer.submit(_send(bus, "bob", "in time"), deadline=5)

        asyncio.run(given_up_then_another())
        assert [e.body for e in bus.pending("bob")] == ["in time"]


@sqlite_only
def test_a_foreign_writer_holding_sqlites_lock_does_not_stall_the_loop(tmp_path: Path) -> None:
    """A core that bypasses the flock holds SQLite's write lock: the loop's write goes to the writer's
    thread (the busy handler waits there), and the loop keeps running meanwhile."""
    with Bus(Settings(home=tmp_path / "bus", busy_timeout_seconds=5)) as bus:
        bus.register("bob", session_id="b", adapter="test")
        foreign = sqlite3.connect(tmp_path / "bus" / "bus.db", isolation_level=None)
        foreign.execute("BEGIN IMMEDIATE")

        async def write_while_held() -> int:
            write = bus.writer.enqueue(_send(bus, "bob", "after the foreign writer"))
            ticks = 0
            while ticks < 10:  # the loop runs while the write waits
                await asyncio.sleep(0.01)
                ticks += 1
            assert not write.done()
            foreign.execute("ROLLBACK")
            await asyncio.wait_for(write, 5)
            return ticks

        try:
            assert asyncio.run(write_while_held()) == 10
        finally:
            foreign.close()
        assert [e.body for e in bus.pending("bob")] == ["after the foreign writer"]


@sqlite_only
def test_a_write_whose_caller_was_cancelled_before_it_began_is_not_run(tmp_path: Path) -> None:
    with Bus(Settings(home=tmp_path / "bus", busy_timeout_seconds=10)) as bus:
        bus.register("bob", session_id="b", adapter="test")
        fd = _hold(tmp_path / "bus" / WRITE_LOCK_FILE)

        async def cancelled() -> None:
            first = bus.writer.enqueue(_send(bus, "bob", "kept"))
            dropped = bus.writer.enqueue(_send(bus, "bob", "dropped"))
            dropped.cancel()
            kept = bus.writer.enqueue(_send(bus, "bob", "kept too"))
            os.close(fd)
            await asyncio.wait_for(asyncio.gather(first, kept), 5)

        asyncio.run(cancelled())
        assert [e.body for e in bus.pending("bob")] == ["kept", "kept too"]


def test_works_handed_over_together_succeed_or_fail_on_their_own_on_either_backend(
    make_bus: Callable[..., Bus],
) -> None:
    """The same on PostgreSQL, whose transactions all run in the writer's thread (savepoints there too)."""
    bus = make_bus()
    bus.register("bob", session_id="b", adapter="test")
    bus.register("carol", session_id="c", adapter="test")

    async def together() -> list[object]:
        futures = [
            bus.writer.enqueue(_send(bus, "bob", "before")),
            bus.writer.enqueue(presence.rename("bob", "carol", "b", bus.settings.stale_seconds)),
            bus.writer.enqueue(_send(bus, "bob", "after")),
        ]
        done, _ = await asyncio.wait(futures, timeout=10)
        assert len(done) == 3
        return [future.exception() or future.result() for future in futures]

    before, refused, after = asyncio.run(together())
    assert isinstance(refused, NameTaken)
    assert all(isinstance(outcome, list) and isinstance(outcome[0], SendReceipt) for outcome in (before, after))
    assert [e.body for e in bus.pending("bob")] == ["before", "after"]
