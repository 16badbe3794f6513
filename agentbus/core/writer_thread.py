"""One thread per SQLite bus file that waits its turn for the write lock and runs the write itself.

A hot write that cannot begin at once on the event loop (``Endpoint._on_bus``) went to a worker
thread, which started a helper thread to block in ``flock`` (the only way to give up after the busy
timeout): when the lock came, the helper had to wake the worker before the transaction could begin,
two thread switches with the lock held, on a machine whose cores are busiest exactly when writers
queue (a broadcast wakes every recipient at once). Here the thread that blocks in ``flock`` runs the
transaction as soon as it has the lock; the loop awaits the result. A write whose caller gave up at
the busy timeout is dropped when its turn comes, never run late.
"""

import asyncio
import contextlib
import enum
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentbus.core.errors import locked_too_long

_IN_TURN = threading.local()


class _State(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    GIVEN_UP = "given up"


@dataclass
class _Write:
    call: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: "asyncio.Future[Any]"
    state: _State = _State.QUEUED
    guard: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> bool:
        """The writer has the lock: run this write unless its caller gave up."""
        with self.guard:
            if self.state is _State.GIVEN_UP:
                return False
            self.state = _State.RUNNING
            return True

    def give_up(self) -> bool:
        """The caller's deadline passed: True if the write will not run (it had not begun)."""
        with self.guard:
            if self.state is _State.QUEUED:
                self.state = _State.GIVEN_UP
            return self.state is _State.GIVEN_UP

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        def set_outcome() -> None:
            if self.future.done():
                return
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop closed: nobody awaits it
            self.loop.call_soon_threadsafe(set_outcome)


def blocks_in_turn() -> Callable[[], bool] | None:
    """In the writer thread, for the first write lock its write takes: the check to call once the
    lock is held (``_Write.start``); until then it may block in ``flock`` without a deadline, since
    the caller keeps its own. Else (any other thread, or a later lock of the same write) None."""
    start: Callable[[], bool] | None = getattr(_IN_TURN, "start", None)
    _IN_TURN.start = None
    return start


class WriterThread:
    """``await run(call, *args, timeout=...)``: ``call(*args)`` in this thread, its result or error.

    ``call`` takes the bus's write lock itself (BusFile.write); writes run one at a time, in order.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self._writes: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def run(self, call: Callable[..., Any], *args: Any, timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        write = _Write(call, args, loop, loop.create_future())
        self._ensure_thread()
        self._writes.put(write)
        try:
            return await asyncio.wait_for(asyncio.shield(write.future), timeout)
        except TimeoutError:
            if write.give_up():
                write.future.cancel()
                raise locked_too_long(self.where) from None
            return await write.future

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="agentbus-bus-writer", daemon=True)
                self._thread.start()

    def _serve(self) -> None:
        while (write := self._writes.get()) is not None:
            if write.state is _State.GIVEN_UP:
                continue
            _IN_TURN.start = write.start
            try:
                result = write.call(*write.args)
            except BaseException as exc:  # handed to the awaiting caller, like a worker thread does
                write.settle(error=exc)
            else:
                write.settle(result)
            finally:
                _IN_TURN.start = None

    def close(self) -> None:
        """Stop after the writes queued so far (a thread blocked on a stuck lock is left, a daemon)."""
        with self._start_lock:
            if self._thread is not None:
                self._writes.put(None)
                self._thread = None
