"""The process's one writer of a bus: its write connection, one transaction at a time, many writes in each.

Every write of a process (a send, a claim, a stamp, a receipt, a presence change) is a ``Work``: a
function of one open transaction. The writer owns the write connection and runs works in turn.

- An event loop hands it works with ``submit`` (``enqueue``). The works handed over in one pass of
  the loop, and those handed over while a transaction is under way, are committed together in the
  next transaction (group commit): a burst of pipelined sends costs one transaction per batch, not
  per send.
- A transaction that can begin at once (the SPEC flock free, SQLite's write lock free) runs where it
  was asked for: on the event loop, no thread hop (a hop costs more CPU than the transaction itself).
  One that must wait goes to the writer's thread, which blocks in ``flock`` and runs it the moment
  the lock is its own, then hands the outcomes back to the loop. A database server's transactions
  (PostgreSQL) always run in that thread: they wait on the network.
- Each work runs inside a savepoint: a work that raises (a refusal, ``NameTaken`` say) is undone
  alone, and its caller gets the exception; the others of the batch commit.
- The deadline is each work's own (the busy timeout, or shorter at exit): a work not begun by then
  is abandoned (``locked_too_long``) and never runs late. The thread may stay blocked in ``flock`` for
  another process; it is a daemon, so the process still exits at once (SPEC LIFE-1).

``write`` is the same for a caller without a loop (the CLI, tests, a worker thread): it runs the
work at once when it can begin, else through the writer's thread, and blocks up to the deadline.
"""

import asyncio
import contextlib
import enum
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from agentbus.core.errors import BusError, BusUnavailable, locked_too_long
from agentbus.core.tx import Tx

T = TypeVar("T")
Work = Callable[[Tx], T]

#: How long each write at exit (the last push stamps, leaving) may wait for the write lock: with the
#: client's 0.5 s to have its last calls answered, the process still exits within a second of its
#: client going (SPEC LIFE-1) while another process holds the lock.
EXIT_DEADLINE_SECONDS = 0.15


class WriteDriver(Protocol):
    """A bus's write connection as the writer drives it (SQLite: busfile.py; PostgreSQL: pgdriver.py)."""

    where: str
    #: Whether a transaction may begin on an event loop (no network, no waiting).
    begins_on_loop: bool

    def begin_now(self) -> bool:
        """Begin a write transaction if nothing has to be waited for; False (nothing held) otherwise."""
        ...

    def begin_waiting(self) -> None:
        """Begin a write transaction, blocking until the bus's write lock is this process's."""
        ...

    def tx(self) -> Tx: ...

    def savepoint(self) -> None: ...

    def release_savepoint(self) -> None: ...

    def rollback_to_savepoint(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None:
        """Roll back and release the write lock; never raises."""
        ...

    def close(self) -> None: ...


class _State(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    ABANDONED = "abandoned"


@dataclass(eq=False)
class _Item(Generic[T]):
    """One work, its outcome, and whether it began: a work is run, or abandoned, never both."""

    work: Work[T]
    future: "asyncio.Future[T] | None" = None
    result: Any = None
    error: BaseException | None = None
    state: _State = _State.QUEUED
    guard: threading.Lock = field(default_factory=threading.Lock)
    #: Seconds it may wait for the write lock, and when it was handed over (loop time).
    deadline: float = 0.0
    handed_at: float = 0.0
    expiry: asyncio.TimerHandle | None = None

    def start(self) -> bool:
        """The transaction is about to run it: False if it was abandoned (or its caller cancelled)."""
        with self.guard:
            if self.state is _State.QUEUED and self.future is not None and self.future.cancelled():
                self.state = _State.ABANDONED
            if self.state is _State.ABANDONED:
                return False
            self.state = _State.RUNNING
            return True

    def abandon(self, error: BaseException) -> bool:
        """Give up on it with ``error`` unless it began; True if it will not run."""
        with self.guard:
            if self.state is _State.QUEUED:
                self.state = _State.ABANDONED
                self.error, self.result = error, None
            return self.state is _State.ABANDONED

    def settled(self) -> bool:
        return self.future is None or self.future.done()

    def settle(self) -> None:
        """Loop thread: hand the outcome to whoever awaits it."""
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        if self.future is None or self.future.done():
            return
        if self.error is not None:
            self.future.set_exception(self.error)
        else:
            self.future.set_result(self.result)


@dataclass(eq=False)
class _Batch:
    """Works committed together in one transaction."""

    items: list[_Item[Any]]
    landed: Callable[[], None] = lambda: None

    def pending(self) -> bool:
        return any(item.state is _State.QUEUED for item in self.items)


class Writer:
    """The one writer of a bus in this process; thread-safe for ``write``, one event loop for ``submit``."""

    def __init__(self, driver: WriteDriver, deadline_seconds: float) -> None:
        self.driver = driver
        self.deadline_seconds = deadline_seconds
        #: Held while a transaction is under way on the connection, by whichever thread runs it.
        self._turn = threading.Lock()
        self._handed: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._thread_guard = threading.Lock()
        # The event loop's side: works waiting for the batch under way in the writer's thread.
        self._queued: list[_Item[Any]] = []
        self._in_flight: _Batch | None = None
        self._flush_scheduled = False
        self._closed = False

    # an event loop's writes ----------------------------------------------------

    async def submit(self, work: Work[T], *, deadline: float | None = None) -> T:
        """Run ``work`` in a write transaction of this writer; its result, or the exception it raised.
        ``deadline``: seconds it may wait for the write lock (the busy timeout if None)."""
        return await self.enqueue(work, deadline=deadline)

    def enqueue(self, work: Work[T], *, deadline: float | None = None) -> "asyncio.Future[T]":
        """``submit`` for a caller that is not a coroutine (a callback on the loop): the future of the outcome.
        A work whose future is cancelled before its transaction began is not run."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._closed:
            future.set_exception(self._closing())
            return future
        item = _Item(work, future, deadline=self.deadline_seconds if deadline is None else deadline)
        item.handed_at = loop.time()
        self._queued.append(item)
        if self._in_flight is not None:
            self._arm_expiry(item)  # it waits behind a transaction that may wait for the lock
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    def _arm_expiry(self, item: _Item[Any]) -> None:
        if item.expiry is None and not item.settled():
            loop = asyncio.get_running_loop()
            item.expiry = loop.call_at(item.handed_at + item.deadline, self._expire, item)

    def _flush(self) -> None:
        """Loop thread: run the works queued, on the loop when the lock is free, else in the writer's thread."""
        self._flush_scheduled = False
        if not self._queued or self._in_flight is not None:
            return
        batch = _Batch(self._queued)
        self._queued = []
        if self._closed:
            for item in batch.items:
                if item.abandon(self._closing()):
                    item.settle()
            return
        if self.driver.begins_on_loop and self._begin_now():
            self._run_begun(batch)
            for item in batch.items:
                item.settle()
            return
        loop = asyncio.get_running_loop()
        self._in_flight = batch
        for item in batch.items:
            self._arm_expiry(item)

        def landed() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody awaits the outcome
                loop.call_soon_threadsafe(self._landed, batch)

        batch.landed = landed
        self._hand_over(batch)

    def _landed(self, batch: _Batch) -> None:
        if batch is self._in_flight:
            self._in_flight = None
        for item in batch.items:
            item.settle()
        if self._queued and self._in_flight is None:
            self._flush()

    def _expire(self, item: _Item[Any]) -> None:
        """Loop thread: the work's deadline passed; unless it began, its caller gets the locked error."""
        item.expiry = None
        if item.abandon(self._closing() if self._closed else locked_too_long(self.driver.where)):
            if item in self._queued:
                self._queued.remove(item)
            item.settle()

    def abandon_waiting(self) -> None:
        """Loop thread: every work handed over and not begun fails now (an endpoint stopping: its
        client is gone, and nothing it waits for may hold the exit)."""
        waiting = [*self._queued, *(self._in_flight.items if self._in_flight is not None else ())]
        self._queued = []
        for item in waiting:
            if item.abandon(self._closing()):
                item.settle()

    # a caller without an event loop --------------------------------------------

    def write(self, work: Work[T], *, deadline: float | None = None) -> T:
        """Run ``work`` in a write transaction now, blocking up to ``deadline`` seconds (the busy
        timeout if None) for the write lock; its result, or the exception it raised."""
        if self._closed:
            raise self._closing()
        item = _Item(work)
        batch = _Batch([item])
        if self._begin_now():
            self._run_begun(batch)
        else:
            landed = threading.Event()
            batch.landed = landed.set
            self._hand_over(batch)
            seconds = self.deadline_seconds if deadline is None else deadline
            if not landed.wait(seconds) and not item.abandon(locked_too_long(self.driver.where)):
                landed.wait()  # it began: it ends in a moment
        if item.error is not None:
            raise item.error
        result: T = item.result
        return result

    # running a batch -------------------------------------------------------------

    def _begin_now(self) -> bool:
        if not self._turn.acquire(blocking=False):
            return False
        try:
            if self.driver.begin_now():
                return True
        except BaseException:
            self._turn.release()
            raise
        self._turn.release()
        return False

    def _run_begun(self, batch: _Batch) -> None:
        """Run the batch's works in the transaction just begun (the turn held), commit, give the turn back."""
        driver = self.driver
        ran: list[_Item[Any]] = []
        try:
            tx = driver.tx()
            for item in batch.items:
                if not item.start():
                    continue
                ran.append(item)
                driver.savepoint()
                try:
                    item.result = item.work(tx)
                except Exception as exc:
                    driver.rollback_to_savepoint()
                    item.error = exc
                driver.release_savepoint()
            driver.commit()
        except BusError as exc:
            driver.rollback()
            for item in ran:
                item.error, item.result = exc, None
        except BaseException:
            driver.rollback()
            raise
        finally:
            self._turn.release()

    def _hand_over(self, batch: _Batch) -> None:
        with self._thread_guard:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="agentbus-writer", daemon=True)
                self._thread.start()
        self._handed.put(batch)

    def _serve(self) -> None:
        """The writer's thread: wait for the write lock, then run the batch at once."""
        while (batch := self._handed.get()) is not None:
            if not batch.pending():
                batch.landed()
                continue
            self._turn.acquire()
            try:
                self.driver.begin_waiting()
            except BusError as exc:
                self._turn.release()
                for item in batch.items:
                    item.abandon(exc)
                batch.landed()
                continue
            self._run_begun(batch)
            batch.landed()

    # closing ---------------------------------------------------------------------

    def _closing(self) -> BusUnavailable:
        return BusUnavailable(f"the bus at {self.driver.where} is closed in this process")

    def close(self, wait_seconds: float = 0.05) -> None:
        """Refuse new works, stop the thread, close the connection. A transaction under way (a few
        milliseconds at most) gets ``wait_seconds`` to end; a thread blocked on another process's lock
        keeps the connection, and is left behind (a daemon)."""
        self._closed = True
        self._handed.put(None)
        if self._turn.acquire(timeout=wait_seconds):
            try:
                self.driver.close()
            finally:
                self._turn.release()
