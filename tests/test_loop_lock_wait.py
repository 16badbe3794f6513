"""An adapter's event loop waits briefly for the bus's write lock itself, and never long (alarm_flock.py)."""

import fcntl
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from conftest import sqlite_only
from helpers.waiting import wait_until

from agentbus.core import Bus, Settings
from agentbus.core.writequeue import LOOP_WAIT_SECONDS, WRITE_LOCK_FILE
from agentbus.triggers.file_watch import FileWatchTrigger
from fakeclaude import Sandbox

pytestmark = sqlite_only


def run_script(body: str) -> dict[str, Any]:
    """Run ``body`` in a fresh interpreter (its SIGALRM is its own, unlike pytest's) and return what
    it printed as JSON on its last line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True, timeout=20, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


PROBE = """
import json, os, sys, threading, time
from agentbus.core import alarm_flock

lock = sys.argv[1] if len(sys.argv) > 1 else "{lock}"
def open_lock():
    return os.open(lock, os.O_RDWR | os.O_CREAT)

with alarm_flock.allowed():
    seen = {{"before_enable": alarm_flock.flock_within(open_lock(), 0.1), "enabled": alarm_flock.enable()}}
holder = open_lock()
blocker = open_lock()
seen["outside_allowed"] = alarm_flock.flock_within(blocker, 0.1)
os.close(blocker)
allowing = alarm_flock.allowed()
allowing.__enter__()
seen["free"] = alarm_flock.flock_within(holder, 0.5)
waiter = open_lock()
started = time.monotonic()
seen["held"] = alarm_flock.flock_within(waiter, 0.15)
seen["held_for"] = time.monotonic() - started
threading.Timer(0.1, os.close, (holder,)).start()
started = time.monotonic()
seen["released_meanwhile"] = alarm_flock.flock_within(waiter, 5.0)
seen["released_after"] = time.monotonic() - started
other = []
thread = threading.Thread(target=lambda: other.append(alarm_flock.flock_within(open_lock(), 0.1)))
thread.start(); thread.join()
seen["other_thread"] = other[0]
seen["alarm_left"] = list(__import__("signal").getitimer(__import__("signal").ITIMER_REAL))
print(json.dumps(seen))
"""


def test_the_main_thread_waits_for_the_lock_at_most_the_time_given(tmp_path: Path) -> None:
    seen = run_script(PROBE.format(lock=tmp_path / "lock"))
    assert seen["before_enable"] is False  # nothing waits before enable()
    assert seen["enabled"] is True
    assert seen["outside_allowed"] is False  # only the writes that allow it wait
    assert seen["free"] is True
    assert seen["held"] is False
    assert 0.14 <= float(seen["held_for"]) < 1.0, seen
    assert seen["released_meanwhile"] is True
    assert 0.05 <= float(seen["released_after"]) < 2.0, seen
    assert seen["other_thread"] is False  # only the main thread may be interrupted by the alarm
    assert seen["alarm_left"] == [0.0, 0.0]  # no timer left running after a wait


def test_a_process_whose_sigalrm_is_taken_is_left_alone(tmp_path: Path) -> None:
    seen = run_script(
        f"""
        import json, os, signal
        from agentbus.core import alarm_flock
        signal.signal(signal.SIGALRM, lambda *_: None)  # e.g. pytest-timeout's signal method
        lock = os.open("{tmp_path / "lock"}", os.O_RDWR | os.O_CREAT)
        with alarm_flock.allowed():
            print(json.dumps({{"enabled": alarm_flock.enable(), "waited": alarm_flock.flock_within(lock, 0.1)}}))
        """
    )
    assert seen == {"enabled": False, "waited": False}


def test_a_long_lock_holds_the_loop_once_and_briefly_and_the_mail_goes_after_it(fakeclaude_bus: Sandbox) -> None:
    db = fakeclaude_bus.bus_home / "bus.db"
    Bus.open(Settings(home=fakeclaude_bus.bus_home)).close()
    env = {"AGENTBUS_BUSY_TIMEOUT_SECONDS": "10", "AGENTBUS_SAFETY_POLL_SECONDS": "0.2"}
    (bob,) = fakeclaude_bus.start_sessions("bob", env=env)
    wait_until(lambda: bob.call_tool("whoami").structured["can_push"], timeout=10, what="bob to push")
    lock = os.open(fakeclaude_bus.bus_home / WRITE_LOCK_FILE, os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)  # another writer of this core, in a long transaction
    try:
        # Mail for bob, and his wake (as a sender's would): his drain claims it, a write that waits
        # on the loop first (alarm_flock), then in the writer thread.
        with sqlite3.connect(db, isolation_level=None) as conn:
            conn.execute(
                "INSERT INTO messages (sender, recipient, body, created_at, attempts)"
                " VALUES ('alice', 'bob', 'after the lock', ?, 0)",
                (time.time(),),
            )
        FileWatchTrigger(fakeclaude_bus.bus_home / "wake").notify("bob")
        assert LOOP_WAIT_SECONDS < 0.5
        deadline = time.monotonic() + 2.0  # and ten safety polls meanwhile
        while time.monotonic() < deadline:
            started = time.monotonic()
            bob.ping(timeout=5)
            took = time.monotonic() - started
            assert took < 1.0, f"the loop answered a ping after {took:.2f}s while the lock was held (LIFE-1: 1 s)"
        assert not bob.channel_events, "a message was pushed while the write lock was held"
    finally:
        os.close(lock)
    assert bob.wait_for_channel(lambda e: e.content == "after the lock", timeout=10).content == "after the lock"


def test_after_a_wait_ran_out_the_loop_does_not_wait_again_until_a_write_had_its_turn(tmp_path: Path) -> None:
    seen = run_script(
        f"""
        import fcntl, json, os, time
        from pathlib import Path
        from agentbus.core import alarm_flock
        from agentbus.core.writequeue import WriteQueue
        alarm_flock.enable()
        allowing = alarm_flock.allowed()  # kept: the block lasts as long as this object
        allowing.__enter__()
        queue = WriteQueue(Path("{tmp_path / "bus.write.lock"}"), "test bus")
        other = os.open(queue.path, os.O_RDWR | os.O_CREAT)
        fcntl.flock(other, fcntl.LOCK_EX)
        times = []
        for _ in range(3):
            started = time.monotonic()
            times.append((queue.try_acquire(), time.monotonic() - started))
        os.close(other)
        fd = queue.try_acquire()
        queue.release(fd)
        other = os.open(queue.path, os.O_RDWR)
        fcntl.flock(other, fcntl.LOCK_EX)
        started = time.monotonic()
        again = (queue.try_acquire(), time.monotonic() - started)
        print(json.dumps({{"held": times, "free": fd is not None, "again": again}}))
        """
    )
    (first, first_took), *rest = seen["held"]
    assert first is None and LOOP_WAIT_SECONDS - 0.01 <= first_took < 1.0, seen
    assert all(fd is None and took < 0.05 for fd, took in rest), seen
    assert seen["free"] is True
    fd, took = seen["again"]
    assert fd is None and took >= LOOP_WAIT_SECONDS - 0.01, seen  # a turn was had: the loop may wait again
