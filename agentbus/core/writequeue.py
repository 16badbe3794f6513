"""Writers of one SQLite bus take turns on a file lock, and wake the moment it is theirs.

SQLite's own busy handler polls: a writer that finds the write lock taken sleeps 1, 2, 5 ... up to
100 ms between tries, so with twenty adapters a write can wait hundreds of milliseconds for a lock
that was free after one. Before ``BEGIN IMMEDIATE`` every writer here takes an exclusive ``flock`` on
``AGENTBUS_HOME/bus.write.lock`` instead: a blocked writer sleeps in the kernel and is woken when the
lock is released. The busy timeout stays the deadline (the same clear error when it expires), and
``BEGIN IMMEDIATE`` keeps its busy handler for writers of other cores that do not take the lock
(SPEC SCHEMA-1).

Each acquisition opens its own descriptor (flock belongs to the open file, not to the thread), so
threads of one process queue like processes do; closing it releases the lock. A write of a bus file's
writer thread (writer_thread.py) blocks in ``flock`` itself and runs as soon as it has the lock.
"""

import contextlib
import fcntl
import os
import threading
from pathlib import Path

from agentbus.core import alarm_flock
from agentbus.core.errors import BusUnavailable, locked_too_long
from agentbus.core.writer_thread import blocks_in_turn

WRITE_LOCK_FILE = "bus.write.lock"
#: How long an adapter's event loop may block for the lock (alarm_flock.py) before it hands the
#: write to the writer thread: a broadcast's queue of writers is usually through in a few ms.
LOOP_WAIT_SECONDS = 0.2


class WriteQueue:
    """``acquire(timeout)`` returns a descriptor holding the lock; ``release(fd)`` gives it back."""

    def __init__(self, path: Path, where: str) -> None:
        self.path = path
        self.where = where
        #: A wait of the loop ran out: the lock is held long (a stuck writer), so the loop does not
        #: wait again until some write of this process had its turn. Without this, every tool call
        #: during a long lock would hold the loop LOOP_WAIT_SECONDS once more.
        self._held_long = False

    def acquire(self, timeout: float) -> int:
        fd = self._open()
        start = blocks_in_turn()
        if start is not None:  # the bus file's writer thread: it blocks here and runs the write itself
            if not self._take_at_once(fd):
                self._block(fd)
            if start():
                self._held_long = False
                return fd
            os.close(fd)
        elif self._take_at_once(fd) or self._wait(fd, timeout):
            self._held_long = False
            return fd
        raise locked_too_long(self.where)

    @staticmethod
    def _block(fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            os.close(fd)
            raise

    def try_acquire(self) -> int | None:
        """The lock's descriptor if the lock is free at once (or within LOOP_WAIT_SECONDS, in an
        adapter's main thread inside ``alarm_flock.allowed()``), else None (nothing is left open)."""
        fd = self._open()
        if self._take_at_once(fd):
            self._held_long = False
            return fd
        if not self._held_long:
            if self._take_within(fd, LOOP_WAIT_SECONDS):
                return fd
            self._held_long = alarm_flock.enabled()
        os.close(fd)
        return None

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise BusUnavailable(f"cannot open the bus's write lock {self.path}: {exc.strerror}") from exc

    @staticmethod
    def _take_at_once(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:
            os.close(fd)
            raise
        return True

    @staticmethod
    def _take_within(fd: int, seconds: float) -> bool:
        try:
            return alarm_flock.flock_within(fd, seconds)
        except OSError:
            os.close(fd)
            raise

    @staticmethod
    def release(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.close(fd)

    @staticmethod
    def _wait(fd: int, timeout: float) -> bool:
        """Block in the kernel for the lock, up to ``timeout``. A waiter that gives up leaves its helper
        thread to take the lock when it comes and drop it at once (by closing its own descriptor)."""
        got = threading.Event()
        guard = threading.Lock()
        abandoned = False

        def wait() -> None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX)
            with guard:
                if abandoned:
                    os.close(fd)
                    return
                got.set()

        threading.Thread(target=wait, name="agentbus-write-queue", daemon=True).start()
        if got.wait(timeout):
            return True
        with guard:
            if got.is_set():
                return True
            abandoned = True
        return False
