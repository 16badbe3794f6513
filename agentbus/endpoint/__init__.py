"""A peer's life on the bus, for any runtime: register, drain on wake, heartbeat, safety poll, prune.

An adapter builds an ``Endpoint`` with its Trigger, enters ``running()``, calls ``attach`` with its
Delivery once its client can receive pushes, and maps its tools onto ``send``/``peers``/``rename``.
An adapter that can tell what its client received and its model saw (receipts, SPEC section 6b)
attaches with ``receipts=True`` and reports each ``Sighting`` through ``confirm``: its pushes are
then stamped delivered when seen, and pushed again when the client did not receive them in time.

Every write goes to the bus's one writer (core/writer.py) from the event loop; the endpoint's state
is the loop thread's own. The pieces: the drain (here), the receipt ledger (ledger.py), and the
background upkeep (upkeep.py: heartbeat, prune, safety poll).
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.to_thread

from agentbus.core import mailbox, presence
from agentbus.core.bus import Bus, Outgoing, Peer, SendReceipt, claimer_id, new_session_id
from agentbus.core.envelope import Envelope
from agentbus.core.errors import BusError
from agentbus.core.names import BROADCAST
from agentbus.core.ports import Delivery, Handled, Trigger
from agentbus.core.registration import Registration
from agentbus.core.writer import EXIT_DEADLINE_SECONDS, Work
from agentbus.endpoint.ledger import PUSH_STAMP_DELAY, ReceiptLedger
from agentbus.endpoint.upkeep import Upkeep

__all__ = ["DRAIN_BATCH", "PUSH_STAMP_DELAY", "Endpoint", "Sighting"]

T = TypeVar("T")

log = logging.getLogger(__name__)

DRAIN_BATCH = 100


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
        self.writer = bus.writer
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        # asyncio's Event and Lock, not anyio's: anyio's acquire yields to the loop once more even when
        # the lock is free, one more loop pass per wake-up (the adapter runs on asyncio anyway).
        self._wake_event = asyncio.Event()
        self._poll_only_wake = False
        #: The wake came from the trigger (a sender's notify): mail is almost surely waiting, so the
        #: first claim of the pass skips its read-only look (one read transaction fewer per message).
        self._mail_expected = False
        self._announced_push = False
        #: The client takes this session's mail at boundaries of its own (``hand_over``), not by push.
        self._at_boundaries = False
        self._drain_lock = asyncio.Lock()
        self._disarm: Callable[[], None] | None = None
        #: The sends made in this pass of the loop, handed to the writer as one work at its end.
        self._outbox: list[tuple[Outgoing, asyncio.Future[mailbox.Outcome]]] = []
        self.ledger = ReceiptLedger(
            self.settings.receipt_grace_seconds,
            write_stamps=self._write_push_stamps_soon,
            recheck=lambda: self.wake(expect_mail=False),
        )
        self.upkeep = Upkeep(self)
        #: Run (in a worker thread) at every safety poll: e.g. a receipts follower reading what it missed.
        self.poll_hooks = self.upkeep.poll_hooks

    @property
    def name(self) -> str:
        if self.registration.peer is None:
            raise BusError("this endpoint is not registered on the bus yet")
        return self.registration.peer.name

    @property
    def can_push(self) -> bool:
        """Whether mail reaches the session's model without its asking: a push door, or a boundary door."""
        return self._delivery is not None or self._at_boundaries

    # lifecycle ----------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator["Endpoint"]:
        """Register (unless already registered), arm the trigger and run the background loops until the block exits."""
        if self._owns_registration:
            await anyio.to_thread.run_sync(self._register, self.requested_name)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._arm()
        give_up: asyncio.TimerHandle | None = None
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                tasks.start_soon(self._drain_loop)
                self.upkeep.start(tasks)
                try:
                    yield self
                finally:
                    tasks.cancel_scope.cancel()
                    self.ledger.close()
                    # A write still waiting for the lock a moment from now (another process holds
                    # it) is given up, so no shielded write holds the exit (SPEC LIFE-1).
                    give_up = self._loop.call_later(EXIT_DEADLINE_SECONDS, self.writer.abandon_waiting)
        finally:
            self._tasks = None
            if give_up is not None:
                give_up.cancel()
            with anyio.CancelScope(shield=True):
                await self._write_push_stamps(deadline=EXIT_DEADLINE_SECONDS)
            self._disarm_trigger()
            self.trigger.close()
            if self._owns_registration:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self.leave)

    def leave(self) -> None:
        """Unregister (once), waiting for the write lock no longer than the exit allows."""
        self.registration.leave(deadline=EXIT_DEADLINE_SECONDS)

    def _register(self, name: str) -> Peer:
        return self.registration.join(name, can_push=self.can_push, receipts=self.receipts, door=self.door)

    def _arm(self) -> None:
        self._disarm = self.trigger.arm(self.name, self._wake_from_any_thread)

    def _disarm_trigger(self) -> None:
        if self._disarm is not None:
            self._disarm()
            self._disarm = None

    def _on_loop(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the endpoint's loop: now if this is its thread, else soon (from a watch
        thread, the poll trigger's, a worker's)."""
        if threading.get_ident() == self._loop_thread:
            callback()
        elif self._loop is not None:
            # A closed loop means the endpoint is shutting down: the call is moot.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(callback)

    def _wake_from_any_thread(self) -> None:
        self._on_loop(lambda: self.wake(expect_mail=True))

    async def _write(self, work: Work[T], *, deadline: float | None = None) -> T:
        return await self.writer.submit(work, deadline=deadline)

    async def _quietly(self, work: Work[T], what: str) -> T | None:
        """A background write; a bus error is logged, not raised (the loop that asked goes on)."""
        try:
            return await self._write(work)
        except BusError as exc:
            log.warning("%s failed: %s", what, exc)
            return None

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
        await self.announce()

    async def open_boundary(self, door: str) -> None:
        """The client takes this session's mail at boundaries it chooses (``hand_over``): say so on the bus."""
        self._at_boundaries = True
        await self.announce_door(door)

    async def announce(self) -> bool | None:
        """Refresh this session's row (can_push, receipts, door); False when it was reaped."""
        return await self._quietly(
            presence.heartbeat(
                self.name, self.session_id, can_push=self.can_push, receipts=self.receipts, door=self.door
            ),
            "heartbeat",
        )

    def detach(self) -> None:
        self._delivery = None
        self._announced_push = False

    # receipts -----------------------------------------------------------------

    async def confirm(self, sightings: list[Sighting]) -> None:
        """Stamp received / seen for the sightings that match a message pushed to this peer, in one
        write that carries the push stamps not written yet; a bus error is logged."""
        if sightings:
            with contextlib.suppress(BusError):
                await self._confirm_soon(sightings)

    def confirm_now(self, sightings: list[Sighting]) -> None:
        """``confirm`` for a synchronous caller (a transcript watch), on any thread."""
        if sightings:
            self._on_loop(lambda: self._confirm_soon(sightings))

    def _confirm_soon(self, sightings: list[Sighting]) -> "asyncio.Future[tuple[list[int], list[int]]]":
        """Loop thread: hand the receipts' write to the writer; the ledger learns its outcome."""
        pushes = self.ledger.stamps_due()
        work = mailbox.confirm_receipts(
            self.name,
            [(s.msg_id, s.sender, s.ts, s.seen) for s in sightings],
            claimer=self.claimer,
            pushes=pushes,
        )
        future = self.writer.enqueue(work)

        def written(done: "asyncio.Future[tuple[list[int], list[int]]]") -> None:
            if done.cancelled():
                return
            error = done.exception()
            if error is not None:
                log.warning("could not stamp receipts: %s", error)
                return
            seen, received = done.result()
            self.ledger.written(pushes)
            if seen or received:
                log.debug("receipts: seen %s, received %s", seen, received)
                self.ledger.confirmed([*seen, *received])

        future.add_done_callback(written)
        return future

    def _start(self, func: Callable[..., Coroutine[Any, Any, None]], *args: object) -> None:
        """Loop thread: run ``func(*args)`` alongside the endpoint's loops (nothing once they stopped)."""
        if self._tasks is not None:
            self._tasks.start_soon(func, *args)

    def _write_push_stamps_soon(self) -> None:
        self._start(self._write_push_stamps)

    async def _write_push_stamps(self, *, deadline: float | None = None) -> None:
        """Write the push stamps still waiting (the ledger's timer, or exit); kept for later if the bus fails."""
        pushes = self.ledger.stamps_due()
        if not pushes:
            return
        try:
            await self._write(mailbox.mark_pushed(self.claimer, pushes), deadline=deadline)
        except BusError as exc:
            log.warning("could not stamp pushes, will try again: %s", exc)
            if self._tasks is not None:
                self.ledger.stamp_later()
            return
        self.ledger.written(pushes)

    # waking and draining ------------------------------------------------------

    def wake(self, *, expect_mail: bool = False) -> None:
        """Request a drain pass. Loop thread only; a wake during a drain causes another pass."""
        self._poll_only_wake = False
        self._mail_expected = self._mail_expected or expect_mail
        self._wake_event.set()

    def safety_wake(self) -> None:
        """The safety poll's wake: a drain pass that logs what it found (the trigger missed it)."""
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
                await self.announce()
            try:
                pushed = await self.drain(expect_mail=expect_mail)
            except BusError as exc:
                # A bus locked past the busy timeout (or briefly unusable) must not end the session:
                # claimed rows stay leased to us and the next wake or safety poll pushes them.
                log.warning("drain of %s failed, will retry: %s", self.name, exc)
                continue
            if from_poll and pushed:
                log.info("safety poll delivered %d message(s) the trigger missed", pushed)

    async def _claim(self, *, look_first: bool, limit: int = DRAIN_BATCH) -> list[Envelope]:
        """Claim a batch, writing the push stamps still waiting first (so their rows are not claimable).

        ``look_first``: find out with a read whether anything is claimable before asking for a write
        (an empty mailbox, as at every safety poll, then costs a read); skipped when a sender's wake
        said mail is waiting, or when there are stamps to write anyway.
        """
        pushes = self.ledger.stamps_due()
        if look_first and not pushes and not await anyio.to_thread.run_sync(self.bus.claimable, self.name):
            return []
        batch = await self._write(mailbox.claim(self.settings, self.name, self.claimer, limit=limit, pushes=pushes))
        self.ledger.written(pushes)
        return batch

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
                batch = await self._claim(look_first=not expect_mail)
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
                            await self._quietly(mailbox.release([e.id for e in batch[index:]], self.claimer), "release")
                            return pushed
                        (consumed if handled is Handled.CONSUMED else done).append(envelope.id)
                        first_at = first_at or time.time()
                        pushed += 1
                finally:
                    # Without receipts a batch's pushes are delivered now (DELIV-3); with receipts they
                    # are pushed, and that stamp waits for the endpoint's next write (ledger.py).
                    # What the adapter handled itself is delivered either way.
                    if done and self.receipts:
                        self.ledger.expect(done, first_at or time.time())
                    delivered = consumed if self.receipts else [*done, *consumed]
                    if delivered:
                        with anyio.CancelScope(shield=True):
                            await self._write(mailbox.mark_delivered(delivered))
                if len(batch) < DRAIN_BATCH:
                    return pushed

    async def hand_over(self, hand: Callable[[list[Envelope]], Awaitable[bool]], *, limit: int) -> int:
        """A boundary of the client (a boundary door): claim what is pending and let ``hand`` give it over.

        ``hand`` gets the batch (maybe empty) and returns True once the client has it: the batch is then
        delivered (pushed, DELIV-3), or with receipts pushed, delivered when a sighting confirms it and
        claimable again at a later boundary if none did within the grace (RCPT-3); False or an exception
        gives it back, pending, for the next boundary. Returns how many messages were handed over.
        """
        async with self._drain_lock:
            batch = await self._claim(look_first=True, limit=limit)
            try:
                handed = await hand(batch)
            except Exception as exc:
                log.warning("hand-over of %d message(s) failed, they stay pending: %s", len(batch), exc)
                handed = False
            if not batch:
                return 0
            ids = [envelope.id for envelope in batch]
            with anyio.CancelScope(shield=True):
                if handed and self.receipts:
                    self.ledger.expect(ids, time.time())
                elif handed:
                    await self._write(mailbox.mark_delivered(ids))
                else:
                    await self._quietly(mailbox.release(ids, self.claimer), "release")
            return len(batch) if handed else 0

    async def take_pending(self, limit: int = 50) -> list[Envelope]:
        """Pull path (no push available): claim pending mail and mark it delivered as it is returned."""
        async with self._drain_lock:
            batch = await self._claim(look_first=True, limit=limit)
            if batch:
                await self._write(mailbox.mark_delivered((e.id for e in batch), pushed=False))
            return batch

    async def reregister(self) -> None:
        """The row was reaped (this session looked dead for a while): take the name again."""
        async with self._drain_lock:
            old = self.name
            try:
                peer = await anyio.to_thread.run_sync(self._register, old)
            except BusError as exc:
                log.warning("could not register %s again: %s", old, exc)
                return
            if peer.name != old:
                self._disarm_trigger()
                self._arm()

    # operations an adapter exposes as tools ------------------------------------

    async def send(self, to: str, text: object, *, reply_to: int | None = None) -> SendReceipt:
        """Enqueue and wake the recipient(s). ``to`` may be ``*`` for every other live peer.

        The sends made in one pass of the loop (a client's pipelined calls) are one work of the
        writer, in the order they were made: one look at the recipients, one savepoint, and one wake
        per recipient for all of them.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[mailbox.Outcome] = loop.create_future()
        if not self._outbox:
            loop.call_soon(self._send_outbox)
        self._outbox.append((Outgoing(to, text, reply_to), future))
        outcome = await future
        if isinstance(outcome, BusError):
            raise outcome
        return outcome

    def _send_outbox(self) -> None:
        """Loop thread: the pass's sends to the writer (a send whose caller was cancelled meanwhile is dropped)."""
        batch = [(outgoing, future) for outgoing, future in self._outbox if not future.cancelled()]
        self._outbox = []
        if not batch:
            return
        try:
            work = mailbox.send(self.settings, self.name, [outgoing for outgoing, _ in batch])
        except BusError as exc:  # this session's own name is refused: every send says so
            self._settle_sends(batch, [exc] * len(batch))
            return

        def written(done: "asyncio.Future[list[mailbox.Outcome]]") -> None:
            if done.cancelled():
                for _, future in batch:
                    future.cancel()
                return
            failure = done.exception()
            if failure is None:
                self._settle_sends(batch, done.result())
            elif isinstance(failure, BusError):
                self._settle_sends(batch, [failure] * len(batch))
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(failure)

        self.writer.enqueue(work).add_done_callback(written)

    def _settle_sends(
        self, batch: list[tuple[Outgoing, "asyncio.Future[mailbox.Outcome]"]], outcomes: list[mailbox.Outcome]
    ) -> None:
        recipients: set[str] = set()
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, SendReceipt):
                recipients.update(outcome.recipients)
            if not future.done():
                future.set_result(outcome)
        if recipients:
            self._wake_recipients(sorted(recipients))

    def _wake_recipients(self, recipients: list[str]) -> None:
        """Here on a bus whose writer runs on the loop (a file trigger's write is a few microseconds),
        else in a worker thread (a database server's NOTIFY)."""

        def notify_all() -> None:
            for recipient in recipients:
                self.trigger.notify(recipient)

        if self.writer.driver.begins_on_loop or self._tasks is None:
            notify_all()
        else:
            self._tasks.start_soon(anyio.to_thread.run_sync, notify_all)

    async def broadcast(self, text: object) -> SendReceipt:
        return await self.send(BROADCAST, text)

    async def peers(self) -> list[Peer]:
        return await anyio.to_thread.run_sync(self.bus.peers)

    async def rename(self, new_name: str) -> Peer:
        """Move this session and its pending mail to ``new_name`` (NameTaken if a live peer holds it)."""
        async with self._drain_lock:
            peer = await self._write(presence.rename(self.name, new_name, self.session_id, self.settings.stale_seconds))
            renamed = peer.name != self.name
            self.registration.peer = peer
            if renamed:
                self._disarm_trigger()
                self._arm()
        self.wake()
        return peer
