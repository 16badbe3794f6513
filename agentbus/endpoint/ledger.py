"""An endpoint's receipt ledger: pushes whose stamp is not written yet, and pushes awaiting their receipt.

A push to a peer with receipts is stamped ``pushed`` in the endpoint's next write (its receipt,
usually a few milliseconds later, or its next claim), or on its own once PUSH_STAMP_DELAY passed: one
write transaction fewer per message. Until its receipt comes the push is not pushed again; once the
grace ended without one (SPEC RCPT-3), the ledger asks for a drain pass, where it is claimable again.

Everything here runs on the endpoint's event loop thread.
"""

import asyncio
import time
from collections.abc import Callable, Iterable

from agentbus.core.records import PushStamp

#: A push stamp waits this long for a write to ride in before it is written on its own.
PUSH_STAMP_DELAY = 0.2


class ReceiptLedger:
    """``expect`` pushes; ``stamps_due`` / ``written`` for the writes that carry their stamps;
    ``confirmed`` for what a sighting proved."""

    def __init__(self, grace_seconds: float, *, write_stamps: Callable[[], None], recheck: Callable[[], None]) -> None:
        self.grace_seconds = grace_seconds
        self._write_stamps = write_stamps
        self._recheck = recheck
        self._unstamped: list[PushStamp] = []
        #: Message id -> when (monotonic) its grace ends.
        self._awaiting: dict[int, float] = {}
        self._stamp_timer: asyncio.TimerHandle | None = None
        self._recheck_timer: asyncio.TimerHandle | None = None

    def expect(self, ids: list[int], at: float) -> None:
        """These pushes resolved at ``at``: their stamp waits for the next write, their receipts are due."""
        self._unstamped.append(PushStamp(tuple(ids), at))
        loop = asyncio.get_running_loop()
        if self._stamp_timer is None:
            self._stamp_timer = loop.call_later(PUSH_STAMP_DELAY, self._on_stamp_timer)
        due = time.monotonic() + self.grace_seconds + 0.05
        for msg_id in ids:
            self._awaiting[msg_id] = due
        if self._recheck_timer is None:
            self._recheck_timer = loop.call_at(_loop_time(due), self._on_recheck)

    def stamps_due(self) -> list[PushStamp]:
        """The push stamps not written yet, for a write to carry. They stay listed until that write
        committed (``written``): two writes carrying the same stamps write them twice, a no-op."""
        return list(self._unstamped)

    def written(self, pushes: Iterable[PushStamp]) -> None:
        done = [id(stamp) for stamp in pushes]
        if done:
            self._unstamped = [stamp for stamp in self._unstamped if id(stamp) not in done]
            self._drop_idle_timers()

    def confirmed(self, ids: Iterable[int]) -> None:
        for msg_id in ids:
            self._awaiting.pop(msg_id, None)
        self._drop_idle_timers()

    def stamp_later(self) -> None:
        """A write of the stamps failed: try again after the delay."""
        if self._stamp_timer is None and self._unstamped:
            self._stamp_timer = asyncio.get_running_loop().call_later(PUSH_STAMP_DELAY, self._on_stamp_timer)

    def close(self) -> None:
        for timer in (self._stamp_timer, self._recheck_timer):
            if timer is not None:
                timer.cancel()
        self._stamp_timer = self._recheck_timer = None

    def _drop_idle_timers(self) -> None:
        """A timer that fires for nothing still costs a pass of the loop; under a broadcast every
        recipient would have both armed for each message."""
        if self._stamp_timer is not None and not self._unstamped:
            self._stamp_timer.cancel()
            self._stamp_timer = None
        if self._recheck_timer is not None and not self._awaiting:
            self._recheck_timer.cancel()
            self._recheck_timer = None

    def _on_stamp_timer(self) -> None:
        self._stamp_timer = None
        if self._unstamped:
            self._write_stamps()

    def _on_recheck(self) -> None:
        """The earliest grace ended: a push still unreceived asks for a drain pass."""
        self._recheck_timer = None
        now = time.monotonic()
        expired = [msg_id for msg_id, due in self._awaiting.items() if due <= now]
        for msg_id in expired:
            del self._awaiting[msg_id]
        if expired:
            self._recheck()
        next_due = min(self._awaiting.values(), default=None)
        if next_due is not None:
            self._recheck_timer = asyncio.get_running_loop().call_at(_loop_time(next_due), self._on_recheck)


def _loop_time(monotonic_at: float) -> float:
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_at - time.monotonic())
