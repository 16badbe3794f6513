"""The one wait_until: re-check a condition until a deadline, for what gives no callback (a process, a file, a row)."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError, TimeoutError):
    """What was awaited did not come in time: a failed expectation to a test (AssertionError), a
    timeout to a harness (TimeoutError); the message says what was awaited and for how long."""


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    describe: Callable[[], str] | None = None,
    interval: float = 0.02,
) -> T:
    """``check()``'s first truthy result, re-checked every ``interval`` seconds; WaitTimeout after
    ``timeout`` seconds, naming ``what`` (and, with ``describe``, what was seen instead)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            seen = f"\n{describe()}" if describe is not None else ""
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}{seen}")
        time.sleep(min(interval, remaining))
