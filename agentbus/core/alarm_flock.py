"""Wait for a ``flock`` on the main thread for a bounded time: an interval timer's SIGALRM ends the wait.

A hot write on an adapter's event loop that finds the bus's write lock taken used to go to the bus
file's writer thread at once (writer_thread.py): a queue, a thread switch, the loop woken through its
self-pipe, more CPU on this machine's 2 cores than the transaction itself, paid by every recipient
of a broadcast twice (its claim and its receipt). Once ``enable`` ran in the process's main thread
(an adapter's entry, before its loop starts), a write inside ``allowed()`` (the endpoint's drain
and receipts, not its sends) may instead block in ``flock`` for up to a short while: most waits are
over in a few milliseconds, and a longer one (a stuck writer elsewhere) is cut off there and handed
to the writer thread, so the loop is never held longer than that (SPEC LIFE-1: exit within 1 s of
EOF). Only the main thread waits here; anywhere else, and in any process whose SIGALRM someone else
owns (pytest-timeout's signal method, say), ``flock_within`` declines.

``flock`` is called through ctypes, not ``fcntl.flock``: Python retries a system call interrupted by
a signal whose handler returns (PEP 475), and here the interruption is the point.
"""

import contextlib
import errno
import fcntl
import os
import signal
import threading
from collections.abc import Callable, Iterator

#: After the first alarm, more at this interval: one that fired before the wait began would
#: otherwise leave it without an end.
_REPEAT_SECONDS = 0.01

#: The C library's ``flock`` and ctypes' ``get_errno`` once ``enable`` ran, else None.
_libc: tuple[Callable[[int, int], int], Callable[[], int]] | None = None
_main_thread = threading.main_thread().ident
#: Set by ``allowed()`` around the writes that may wait here; any other write does not.
_allowed = False


def _ignore(_signum: int, _frame: object) -> None:
    """The alarm only interrupts the wait (EINTR); there is nothing to do when it is handled."""


def enable() -> bool:
    """Let the main thread wait in ``flock_within`` from now on; False (and nothing changed) when it
    cannot: not the main thread, no ``flock`` in the C library, or SIGALRM already handled by someone."""
    global _libc
    if _libc is not None:
        return True
    if threading.get_ident() != _main_thread or not hasattr(signal, "setitimer"):
        return False
    if signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, None):
        return False
    import ctypes  # here, not at the top: this module is imported before an adapter's first answer

    try:
        flock = ctypes.CDLL(None, use_errno=True).flock  # the process's own symbols, the C library's among them
    except (OSError, AttributeError):
        return False
    flock.argtypes = [ctypes.c_int, ctypes.c_int]
    flock.restype = ctypes.c_int
    signal.signal(signal.SIGALRM, _ignore)
    signal.siginterrupt(signal.SIGALRM, True)
    _libc = (flock, ctypes.get_errno)
    return True


def enabled() -> bool:
    """Whether ``flock_within`` can wait here (``enable`` ran, this is the main thread, inside ``allowed``)."""
    return _allowed and _libc is not None and threading.get_ident() == _main_thread


@contextlib.contextmanager
def allowed() -> Iterator[None]:
    """The main thread's writes in this block may wait in ``flock_within``; nested blocks are fine."""
    global _allowed
    before, _allowed = _allowed, True
    try:
        yield
    finally:
        _allowed = before


def flock_within(fd: int, seconds: float) -> bool:
    """Take the exclusive ``flock`` on ``fd``, waiting at most about ``seconds``; True if taken.

    False at once where it may not wait (``enabled``). OSError for a failure other than the wait
    running out.
    """
    if not enabled():
        return False
    assert _libc is not None
    flock, get_errno = _libc
    signal.setitimer(signal.ITIMER_REAL, seconds, _REPEAT_SECONDS)
    try:
        result = flock(fd, fcntl.LOCK_EX)
        error = get_errno()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if result == 0:
        return True
    if error == errno.EINTR:
        return False
    raise OSError(error, os.strerror(error))
