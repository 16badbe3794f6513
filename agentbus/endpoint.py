"""A peer's life on the bus, for any runtime: register, drain on wake, heartbeat, safety poll, prune.

An adapter builds an ``Endpoint`` with its Trigger, enters ``running()``, calls ``attach`` with its
Delivery once its client can receive pushes, and maps its tools onto ``send``/``peers``/``rename``.
An adapter that can tell what its client received and its model saw (receipts, SPEC section 6b)
attaches with ``receipts=True`` and reports each ``Sighting`` through ``confirm``: its pushes are
then stamped delivered when seen, and pushed again when the client did not receive them in time.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from agentbus.core import alarm_flock
from agentbus.core.bus import Bus, Outgoing, Peer, SendReceipt, claimer_id, new_session_id
from agentbus.core.envelope import Envelope
from agentbus.core.errors import BusError, WouldWait
from agentbus.core.names import BROADCAST
from agentbus.core.ports import Delivery, Handled, Trigger
from agentbus.core.records import PushStamp
from agentbus.core.registration import Registration

T = TypeVar("T")

log = logging.getLogger(__name__)

DRAIN_BATCH = 100
#: Most sends committed in one transaction (group commit of concurrent tool calls).
SEND_BATCH = 256
PRUNE_EVERY_SECONDS = 600.0
#: A push to a peer with receipts is stamped in the endpoint's next write transaction (its receipt,
#: usually a few milliseconds later, or its next claim), or on its own once this much time passed.
PUSH_STAMP_DELAY = 0.2


@dataclass(frozen=True, slots=True)
class Sighting:
    """A pushed message found in the client's own record: received (accepted, maybe queued) or seen.

    ``sender`` and ``ts`` are the envelope's ``from`` and ``ts`` as shown to the model; a sighting
    counts only when they match the message with that id (another bus's event with the same id, or
    a forged tag in a body, does not).
    """

    msg_id: int
    sender: str
    ts: str
    seen: bool


@dataclass
class _PendingSend:
    """A send waiting in the outbox; ``outcome`` is set (in a worker thread) once its batch committed."""

    outgoing: Outgoing
    outcome: SendReceipt | Exception | None = None


def _threadsafe(callback: Callable[[], None]) -> Callable[[], None]:
    """A non-blocking way for any thread (a watch, the poll trigger) to run ``callback`` on this loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        token = anyio.lowlevel.current_token()
        return lambda: anyio.from_thread.run_sync(callback, token=token)

    loop_thread = threading.get_ident()

    def call() -> None:
        if threading.get_ident() == loop_thread:  # a watch the loop reads itself (path_watch.py)
            callback()
            return
        # A closed loop means the endpoint is shutting down: the wake is moot.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(callback)

    return call


class Endpoint:
    """A peer's background life on the bus. ``registration``: one its caller already joined (and leaves);
    without it, ``running()`` joins as ``preferred_name`` and leaves when it exits."""

    def __init__(
        self,
        bus: Bus,
        preferred_name: str,
        *,
        adapter: str,
        trigger: Trigger,
        registration: Registration | None = None,
    ) -> None:
        self.bus = bus
        self.settings = bus.settings
        self.requested_name = preferred_name
        self.adapter = adapter
        self.trigger = trigger
        self.registration = registration or Registration(bus, session_id=new_session_id(), adapter=adapter)
        self._owns_registration = registration is None
        self.session_id = self.registration.session_id
        self.claimer = claimer_id(self.session_id)
        self._delivery: Delivery | None = None
        self.receipts = False
        #: The door presence shows (SPEC DOOR-1): set by ``attach``, or by ``announce_door`` for pull.
        self.door: str | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        # asyncio's Event and Lock, not anyio's: anyio's acquire yields to the loop once more even when
        # the lock is free, one more loop pass per wake-up (the adapter runs on asyncio anyway).
        self._wake_event = asyncio.Event()
        self._poll_only_wake = False
        #: The wake came from the trigger (a sender's notify): mail is almost surely waiting, so the
        #: first claim of the pass skips its read-only look (one read transaction fewer per message).
        self._mail_expected = False
        #: Pushes awaiting their receipt: message id -> when (monotonic) its grace ends. One timer
        #: looks again at the earliest, and only if it was not received by then (SPEC RCPT-3).
        self._awaiting: dict[int, float] = {}
        self._awaiting_lock = threading.Lock()
        self._recheck: asyncio.TimerHandle | None = None
        #: Push stamps not written yet (PUSH_STAMP_DELAY), and the timer that writes them on their own.
        self._unstamped: list[PushStamp] = []
        self._unstamped_lock = threading.Lock()
        self._stamp_timer: asyncio.TimerHandle | None = None
        self._announced_push = False
        self._drain_lock = asyncio.Lock()
        self._outbox: list[_PendingSend] = []
        self._send_lock = anyio.Lock()
        self._disarm: Callable[[], None] | None = None
        #: Run (in a worker thread) at every safety poll: e.g. a receipts follower reading what it missed.
        self.poll_hooks: list[Callable[[], None]] = []
        self._wake_from_thread: Callable[[], None] = lambda: None
        self._loop_thread: int | None = None

    @property
    def name(self) -> str:
        if self.registration.peer is None:
            raise BusError("this endpoint is not registered on the bus yet")
        return self.registration.peer.name

    @property
    def can_push(self) -> bool:
        return self._delivery is not None

    # lifecycle ----------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator["Endpoint"]:
        """Register (unless already registered), arm the trigger and run the background loops until the block exits."""
        if self._owns_registration:
            await anyio.to_thread.run_sync(self._register, self.requested_name)
        self._wake_from_thread = _threadsafe(self._trigger_wake)
        self._loop_thread = threading.get_ident()
        self._arm()
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                tasks.start_soon(self._drain_loop)
                tasks.start_soon(self._heartbeat_loop)
                if self.settings.safety_poll_seconds > 0:
                    tasks.start_soon(self._safety_poll_loop)
                try:
                    yield self
                finally:
                    tasks.cancel_scope.cancel()
                    for timer in (self._recheck, self._stamp_timer):
                        if timer is not None:
                            timer.cancel()
                    self._recheck = self._stamp_timer = None
        finally:
            with anyio.CancelScope(shield=True):
                await self._write_push_stamps()
            self._disarm_trigger()
            self.trigger.close()
            if self._owns_registration:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self.registration.leave)

    def _register(self, name: str) -> Peer:
        return self.registration.join(name, can_push=self.can_push, receipts=self.receipts, door=self.door)

    def _arm(self) -> None:
        self._disarm = self.trigger.arm(self.name, self._wake_from_thread)

    def _disarm_trigger(self) -> None:
        if self._disarm is not None:
            self._disarm()
            self._disarm = None

    def attach(self, delivery: Delivery, *, receipts: bool = False, door: str = "channel") -> None:
        """Start pushing to ``delivery`` (the client is ready); drains what is waiting.

        ``receipts``: the adapter will ``confirm`` what the client received and saw, so a push is
        stamped ``pushed`` (not delivered) and pushed again if not received within the grace.
        ``door``: how ``delivery`` reaches the model, as presence shows it (SPEC DOOR-1).
        """
        self._delivery = delivery
        self.receipts = receipts
        self.door = door
        self.wake()

    async def announce_door(self, door: str) -> None:
        """Say on the bus which door this session has when it has no delivery to attach (``pull``)."""
        self.door = door
        await self._quietly(self._announce)

    def _announce(self) -> bool:
        return self.bus.heartbeat(
            self.name, self.session_id, can_push=self.can_push, receipts=self.receipts, door=self.door
        )

    def detach(self) -> None:
        self._delivery = None
        self._announced_push = False

    async def confirm(self, sightings: list[Sighting]) -> None:
        """Stamp received / seen for the sightings that match a message pushed to this peer."""
        if not sightings:
            return
        try:
            await self._on_bus(self._confirm, sightings)
        except BusError as exc:
            log.warning("could not stamp receipts: %s", exc)

    def _confirm(self, sightings: list[Sighting], *, wait: bool = True) -> None:
        """One transaction: the push stamps not written yet, then what the sightings prove."""
        pushes = self._push_stamps_due()
        seen, received = self.bus.confirm_receipts(
            self.name,
            [(s.msg_id, s.sender, s.ts, s.seen) for s in sightings],
            wait=wait,
            claimer=self.claimer,
            pushes=pushes,
        )
        self._push_stamps_written(pushes)
        if seen or received:
            log.debug("receipts: seen %s, received %s", seen, received)
            with self._awaiting_lock:
                for msg_id in (*seen, *received):
                    self._awaiting.pop(msg_id, None)
        self._drop_idle_timers()

    def _drop_idle_timers(self) -> None:
        """On the loop thread, cancel the stamp and recheck timers once nothing is left for them: a
        timer that fires for nothing still costs a pass of the loop, and under a broadcast every
        recipient had both armed for each message."""
        if threading.get_ident() != self._loop_thread:
            return
        with self._unstamped_lock:
            stamps_left = bool(self._unstamped)
        if self._stamp_timer is not None and not stamps_left:
            self._stamp_timer.cancel()
            self._stamp_timer = None
        with self._awaiting_lock:
            awaiting = bool(self._awaiting)
        if self._recheck is not None and not awaiting:
            self._recheck.cancel()
            self._recheck = None

    def confirm_now(self, sightings: list[Sighting]) -> None:
        """``confirm`` for a synchronous caller (a transcript watch), on any thread; logs bus errors.

        On the loop thread it stamps at once when the bus can begin without waiting, else it leaves
        the stamp to a worker thread; on another thread it blocks on the bus."""
        on_loop = self._tasks is not None and threading.get_ident() == self._loop_thread
        try:
            with alarm_flock.allowed():
                self._confirm(sightings, wait=not on_loop)
        except WouldWait:
            assert self._tasks is not None
            self._tasks.start_soon(self.confirm, sightings)
        except BusError as exc:
            log.warning("could not stamp receipts: %s", exc)

    def _await_receipts(self, ids: list[int]) -> None:
        """Loop thread: remember pushes whose receipt is due, and arm the one recheck timer."""
        due = time.monotonic() + self.settings.receipt_grace_seconds + 0.05
        with self._awaiting_lock:
            for msg_id in ids:
                self._awaiting[msg_id] = due
        if self._recheck is None:
            self._recheck = asyncio.get_running_loop().call_at(self._loop_time(due), self._on_recheck)

    def _on_recheck(self) -> None:
        """The earliest grace ended: a push still unreceived makes a drain pass (it is claimable again)."""
        self._recheck = None
        now = time.monotonic()
        with self._awaiting_lock:
            expired = [msg_id for msg_id, due in self._awaiting.items() if due <= now]
            for msg_id in expired:
                del self._awaiting[msg_id]
            next_due = min(self._awaiting.values(), default=None)
        if expired:
            self.wake(expect_mail=False)
        if next_due is not None:
            self._recheck = asyncio.get_running_loop().call_at(self._loop_time(next_due), self._on_recheck)

    @staticmethod
    def _loop_time(monotonic_at: float) -> float:
        loop = asyncio.get_running_loop()
        return loop.time() + (monotonic_at - time.monotonic())

    # waking and draining ------------------------------------------------------

    def wake(self, *, expect_mail: bool = False) -> None:
        """Request a drain pass. Loop thread only; a wake during a drain causes another pass."""
        self._poll_only_wake = False
        self._mail_expected = self._mail_expected or expect_mail
        self._wake_event.set()

    def _trigger_wake(self) -> None:
        self.wake(expect_mail=True)

    def _safety_wake(self) -> None:
        already_pending = self._wake_event.is_set()
        self._wake_event.set()
        if not already_pending:
            self._poll_only_wake = True

    async def _drain_loop(self) -> None:
        while True:
            await self._wake_event.wait()
            # Re-arm before draining: a wake that lands during the drain sets the fresh event.
            self._wake_event = asyncio.Event()
            from_poll, self._poll_only_wake = self._poll_only_wake, False
            expect_mail, self._mail_expected = self._mail_expected, False
            if self._delivery is None:
                continue
            if not self._announced_push:
                self._announced_push = True
                await self._quietly(self._announce)
            try:
                pushed = await self.drain(expect_mail=expect_mail)
            except BusError as exc:
                # A bus locked past the busy timeout (or briefly unusable) must not end the session:
                # claimed rows stay leased to us and the next wake or safety poll pushes them.
                log.warning("drain of %s failed, will retry: %s", self.name, exc)
                continue
            if from_poll and pushed:
                log.info("safety poll delivered %d message(s) the trigger missed", pushed)

    async def drain(self, *, expect_mail: bool = False) -> int:
        """Push every pending message of this peer, oldest first; return how many were pushed.

        ``expect_mail``: a sender's wake, so the first claim goes straight to the write transaction.
        A batch smaller than DRAIN_BATCH was everything claimable when it was taken; mail committed
        after that comes with its own wake (the event is re-armed before the pass), so the pass ends
        there instead of looking once more.
        """
        delivery = self._delivery
        if delivery is None:
            return 0
        pushed = 0
        async with self._drain_lock:
            while True:
                batch = await self._on_bus(self._claim, not expect_mail)
                expect_mail = False
                if not batch:
                    return pushed
                # One delivered stamp per claimed batch, after its pushes resolved (DELIV-3): a crash
                # part-way re-pushes the rest of the batch (duplicates, DELIV-5), never loses it.
                done: list[int] = []
                consumed: list[int] = []  # handled by the adapter itself: delivered, no receipt to wait for
                first_at: float | None = None  # when the batch's first push resolved: its pushed_at
                try:
                    for index, envelope in enumerate(batch):
                        try:
                            handled = await delivery.deliver(envelope)
                        except Exception as exc:
                            log.warning("push of message %d failed, will retry: %s", envelope.id, exc)
                            rest = [e.id for e in batch[index:]]
                            await anyio.to_thread.run_sync(self.bus.release, rest, self.claimer)
                            return pushed
                        (consumed if handled is Handled.CONSUMED else done).append(envelope.id)
                        first_at = first_at or time.time()
                        pushed += 1
                finally:
                    # Without receipts a batch's pushes are delivered now (DELIV-3); with receipts they
                    # are pushed, and that stamp waits for the endpoint's next write (PUSH_STAMP_DELAY).
                    # What the adapter handled itself is delivered either way.
                    if done and self.receipts:
                        self._expect_receipts(done, first_at or time.time())
                    delivered = consumed if self.receipts else [*done, *consumed]
                    if delivered:
                        with anyio.CancelScope(shield=True):
                            await self._on_bus(self.bus.mark_delivered, delivered)
                if len(batch) < DRAIN_BATCH:
                    return pushed

    def _expect_receipts(self, ids: list[int], at: float) -> None:
        """Loop thread: these pushes' stamp waits for the next write, and their receipts are due."""
        self._keep_push_stamps([PushStamp(tuple(ids), at)])
        self._await_receipts(ids)

    def _push_stamps_due(self) -> list[PushStamp]:
        """The push stamps not written yet, for a write transaction to write first. They stay listed
        until that transaction committed (``_push_stamps_written``): a claim running meanwhile in
        another thread writes them too (a no-op twice), so their rows are never claimable again."""
        with self._unstamped_lock:
            return list(self._unstamped)

    def _push_stamps_written(self, pushes: list[PushStamp]) -> None:
        if pushes:
            with self._unstamped_lock:
                self._unstamped = [stamp for stamp in self._unstamped if not any(stamp is p for p in pushes)]

    def _keep_push_stamps(self, pushes: list[PushStamp]) -> None:
        """Loop thread: list these for the endpoint's next write, and arm the timer that writes them."""
        with self._unstamped_lock:
            self._unstamped.extend(pushes)
        self._arm_stamp_timer()

    def _arm_stamp_timer(self) -> None:
        if self._stamp_timer is None:
            self._stamp_timer = asyncio.get_running_loop().call_later(PUSH_STAMP_DELAY, self._on_stamp_timer)

    def _on_stamp_timer(self) -> None:
        self._stamp_timer = None
        if self._unstamped and self._tasks is not None:
            self._tasks.start_soon(self._write_push_stamps)

    async def _write_push_stamps(self) -> None:
        """Write the push stamps still waiting (the timer, or shutdown); kept for later if the bus fails."""
        pushes = self._push_stamps_due()
        if not pushes:
            return
        try:
            await self._on_bus(self.bus.mark_pushed, self.claimer, pushes)
        except BusError as exc:
            log.warning("could not stamp pushes, will try again: %s", exc)
            if self._tasks is not None:
                self._arm_stamp_timer()
            return
        self._push_stamps_written(pushes)

    def _claim(self, look_first: bool = True, *, wait: bool = True, limit: int = DRAIN_BATCH) -> list[Envelope]:
        """A claim that first writes the push stamps still waiting (so their rows are not claimable)."""
        pushes = self._push_stamps_due()
        batch = self.bus.claim(self.name, self.claimer, limit=limit, look_first=look_first, wait=wait, pushes=pushes)
        self._push_stamps_written(pushes)
        return batch

    async def _on_bus(self, write: Callable[..., T], *args: Any, loop_waits: bool = True) -> T:
        """``write(*args)`` here on the loop when the bus can begin it at once (a SQLite bus whose
        write lock is free), else in the bus file's writer thread, which waits for the lock and runs
        it (busfile.write_in_turn), or on PostgreSQL in a worker thread. A thread hop costs ~200 us
        of CPU and a wake-up of another thread; the transaction itself ~20-50 us.

        ``loop_waits``: in an adapter (alarm_flock enabled) the loop may first wait up to 0.2 s for
        a taken lock itself. Sends pass False: while their batch waits for the lock, the loop keeps
        reading the client's calls, which the next batch commits together (a burst of pipelined
        sends ran at half the rate when the loop waited)."""
        try:
            if loop_waits:
                with alarm_flock.allowed():
                    return write(*args, wait=False)
            return write(*args, wait=False)
        except WouldWait:
            pass
        # Like a worker thread's, the write runs to its end even if this caller is cancelled meanwhile.
        with anyio.CancelScope(shield=True):
            if self.bus.file is not None:
                result = await self.bus.file.write_in_turn(write, *args)
            else:
                result = await anyio.to_thread.run_sync(write, *args)
        return result

    async def take_pending(self, limit: int = 50) -> list[Envelope]:
        """Pull path (no push available): claim pending mail and mark it delivered as it is returned."""
        async with self._drain_lock:

            def take() -> list[Envelope]:
                batch = self._claim(limit=limit)
                self.bus.mark_delivered((e.id for e in batch), pushed=False)
                return batch

            return await anyio.to_thread.run_sync(take)

    # background loops ---------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        since_prune = PRUNE_EVERY_SECONDS
        while True:
            if since_prune >= PRUNE_EVERY_SECONDS:
                since_prune = 0.0
                await self._quietly(self.bus.prune)
            await anyio.sleep(self.settings.heartbeat_seconds)
            since_prune += self.settings.heartbeat_seconds
            alive = await self._quietly(self._announce)
            if alive is False:
                log.warning("registration of %s was reaped; registering again", self.name)
                await self._reregister()

    async def _reregister(self) -> None:
        async with self._drain_lock:
            old = self.name
            peer = await self._quietly(self._register, old)
            if isinstance(peer, Peer) and peer.name != old:
                self._disarm_trigger()
                self._arm()

    async def _safety_poll_loop(self) -> None:
        while True:
            await anyio.sleep(self.settings.safety_poll_seconds)
            for hook in self.poll_hooks:
                await anyio.to_thread.run_sync(hook)
            self._safety_wake()

    async def _quietly(self, func: Callable[..., object], *args: object, **kwargs: object) -> object:
        """Run a bus call in a thread; log bus errors instead of letting a loop die."""
        try:
            return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs))
        except BusError as exc:
            log.warning("%s failed: %s", getattr(func, "__name__", func), exc)
            return None

    # operations an adapter exposes as tools ------------------------------------

    async def send(self, to: str, text: object, *, reply_to: int | None = None) -> SendReceipt:
        """Enqueue and wake the recipient(s). ``to`` may be ``*`` for every other live peer.

        Concurrent sends are committed together (group commit): each caller queues its send, and
        whoever holds the send lock commits everything queued, in order, in one transaction. A
        caller whose send was committed by another returns as soon as it gets the lock.
        """
        pending = _PendingSend(Outgoing(to, text, reply_to))
        self._outbox.append(pending)
        try:
            async with self._send_lock:
                if pending.outcome is None:
                    batch, self._outbox = self._outbox[:SEND_BATCH], self._outbox[SEND_BATCH:]
                    await self._on_bus(self._commit_sends, batch, loop_waits=False)
        except BaseException:
            # Cancelled while waiting for the lock: a send nobody waits for must not go out later.
            if pending in self._outbox:
                self._outbox.remove(pending)
            raise
        if isinstance(pending.outcome, Exception):
            raise pending.outcome
        assert pending.outcome is not None
        return pending.outcome

    def _commit_sends(self, batch: list[_PendingSend], *, wait: bool = True) -> None:
        """One transaction for ``batch``, then one wake per recipient. Sets every outcome, even on failure
        (WouldWait, with ``wait=False``, sets none: the batch is committed again where it may wait).

        Outcomes are set here, in the worker thread, so they survive the committing caller being
        cancelled while it waits for this thread.
        """
        try:
            outcomes: list[SendReceipt | BusError] = self.bus.send_many(
                self.name, [p.outgoing for p in batch], wait=wait
            )
        except WouldWait:
            raise
        except Exception as exc:  # the bus itself failed: every send of the batch reports it
            for pending in batch:
                pending.outcome = exc
            return
        woken: set[str] = set()
        for pending, outcome in zip(batch, outcomes, strict=True):
            pending.outcome = outcome
            if isinstance(outcome, SendReceipt):
                woken.update(outcome.recipients)
        for recipient in sorted(woken):
            self.trigger.notify(recipient)

    async def broadcast(self, text: object) -> SendReceipt:
        return await self.send(BROADCAST, text)

    async def peers(self) -> list[Peer]:
        return await anyio.to_thread.run_sync(self.bus.peers)

    async def rename(self, new_name: str) -> Peer:
        """Move this session and its pending mail to ``new_name`` (NameTaken if a live peer holds it)."""
        async with self._drain_lock:
            peer = await anyio.to_thread.run_sync(self.bus.rename, self.name, new_name, self.session_id)
            renamed = peer.name != self.name
            self.registration.peer = peer
            if renamed:
                self._disarm_trigger()
                self._arm()
        self.wake()
        return peer
