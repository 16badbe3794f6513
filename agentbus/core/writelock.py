"""The SPEC flock every writer of a SQLite bus takes before ``BEGIN IMMEDIATE`` (``bus.write.lock``).

SQLite's own busy handler polls: a writer that finds the write lock taken sleeps 1, 2, 5 ... up to
100 ms between tries, so with twenty adapters a write could wait hundreds of milliseconds for a lock
that was free after one. Before ``BEGIN IMMEDIATE`` every writer takes an exclusive ``flock`` on
``AGENTBUS_HOME/bus.write.lock`` instead: a blocked writer sleeps in the kernel and is woken the
moment the lock is released (SPEC SCHEMA-1). ``BEGIN IMMEDIATE`` keeps its busy handler for writers
of other cores that do not take the flock.

A lock belongs to its open descriptor: two ``WriteLock`` objects exclude each other like two processes.
"""

import contextlib
import fcntl
import os
from pathlib import Path

from agentbus.core.errors import BusUnavailable

WRITE_LOCK_FILE = "bus.write.lock"


class WriteLock:
    """``take_now()`` if free at once, ``take()`` blocking; ``release()`` after the transaction ended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _descriptor(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise BusUnavailable(f"cannot open the bus's write lock {self.path}: {exc.strerror}") from exc
        return self._fd

    def take_now(self) -> bool:
        try:
            fcntl.flock(self._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def take(self) -> None:
        """Block in the kernel until the lock is this descriptor's."""
        fcntl.flock(self._descriptor(), fcntl.LOCK_EX)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
