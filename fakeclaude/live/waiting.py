"""Waiting on something outside our process (a file, a /proc entry, a bus row) until a deadline.

The real client gives no callback: we watch what it leaves behind. ``wait_until`` re-checks a
predicate every few milliseconds and returns its first truthy value, or raises ``TimeoutError``
saying what was awaited (and ``describe()``, if given, what was seen instead).
"""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    describe: Callable[[], str] | None = None,
    interval: float = 0.02,
) -> T:
    """``check()``'s first truthy result; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            seen = f"\n{describe()}" if describe is not None else ""
            raise TimeoutError(f"{what}: not within {timeout:g}s{seen}")
        time.sleep(min(interval, remaining))


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a killed child its parent has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
