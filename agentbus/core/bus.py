"""The bus for a caller without an event loop: presence, the mailbox and reports, each call one transaction.

Writes are works of the process's one writer (writer.py; the works in presence.py and mailbox.py),
run with ``Writer.write``; an event loop hands the same works to ``Writer.submit`` (the endpoint).
Reads run on a SQLAlchemy engine (reports.py for the CLI and tests). ``open_bus`` picks the driver of
a settings' URL once: a SQLite file (busfile.py) or PostgreSQL (pgdriver.py).
"""

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, make_url, select, text
from sqlalchemy.exc import DBAPIError

from agentbus.core import mailbox, presence, reports
from agentbus.core import mailbox_sql as sql
from agentbus.core.config import Settings
from agentbus.core.driver import Driver, open_driver
from agentbus.core.engine import make_engine, translate_db_error
from agentbus.core.envelope import Envelope
from agentbus.core.errors import BusError, BusUnavailable
from agentbus.core.liveness import HOST, claimer_id, claimer_is_dead, new_session_id, pid_alive
from agentbus.core.migrate import current_revision
from agentbus.core.readonly import readonly_engine
from agentbus.core.records import MailboxStats, Outgoing, Peer, PushStamp, Receipt, Rungs, SendReceipt
from agentbus.core.schema import peers
from agentbus.core.writer import Writer

__all__ = [
    "HOST",
    "Bus",
    "MailboxStats",
    "Outgoing",
    "Peer",
    "Receipt",
    "SendReceipt",
    "claimer_id",
    "claimer_is_dead",
    "new_session_id",
    "open_driver",
    "pid_alive",
]

# What a drainer may push now (mailbox_sql.CLAIMABLE, which says why): one indexed read.
_ANY_CLAIMABLE = text(f"SELECT id FROM messages WHERE {sql.CLAIMABLE} LIMIT 1")


class Bus:
    """One open bus. Thread-safe: every method is one short transaction."""

    def __init__(self, settings: Settings, *, driver: Driver | None = None, readonly: bool = False) -> None:
        """Open the bus of ``settings``. ``driver``: the bus already opened at the driver level (an
        adapter registers through it before it answers, then builds the rest here); this bus closes
        it. ``readonly``: see open_readonly."""
        self.settings = settings
        self.readonly = readonly
        self.driver: Driver | None = None
        if readonly:
            self.where = str(settings.db_path) if not settings.db_url else make_url(settings.url).render_as_string()
            self.engine = readonly_engine(settings)
            try:
                self.schema_revision: str | None = current_revision(self.engine) or ""
            except DBAPIError as exc:
                self.engine.dispose()
                raise translate_db_error(exc, self.where) from exc
            return
        self.driver = driver if driver is not None else open_driver(settings)
        self.where = self.driver.where
        self.schema_revision = self.driver.schema_revision
        self.engine = self.driver.take_engine() or make_engine(
            settings.url, busy_timeout_seconds=settings.busy_timeout_seconds, where=self.where
        )

    @classmethod
    def open(cls, settings: Settings | None = None) -> "Bus":
        return cls(settings or Settings.from_env())

    @classmethod
    def open_readonly(cls, settings: Settings) -> "Bus":
        """An existing bus, never created, migrated or changed: peers() does not reap, writes raise."""
        return cls(settings, readonly=True)

    @property
    def writer(self) -> Writer:
        """The process's one writer of this bus (BusUnavailable on a read-only bus)."""
        if self.driver is None:
            raise BusUnavailable(f"the bus at {self.where} is open read-only")
        return self.driver.writer

    def close(self) -> None:
        self.engine.dispose()
        if self.driver is not None:
            self.driver.close()

    def __enter__(self) -> "Bus":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except DBAPIError as exc:
            raise translate_db_error(exc, self.where) from exc

    # presence -----------------------------------------------------------------

    def is_live(self, peer: Peer) -> bool:
        """The liveness rule (SPEC PRES-3): seen within the stale window and, on this host, running."""
        return presence.is_live(peer, time.time(), self.settings.stale_seconds)

    def register(self, name: str, **fields: Any) -> Peer:
        """Take ``name`` for this session (presence.arriving's fields); NameTaken if a live session holds it."""
        if self.driver is None:
            raise BusUnavailable(f"the bus at {self.where} is open read-only")
        return self.driver.register(name, **fields)

    def register_unique(self, preferred: str, **kwargs: Any) -> Peer:
        """The naming policy for a starting session: ``preferred``, else ``preferred-2``, ``-3``..."""
        return presence.first_free(lambda name: self.register(name, **kwargs), preferred)

    def unregister(self, name: str, session_id: str, *, deadline: float | None = None) -> None:
        if self.driver is None:
            raise BusUnavailable(f"the bus at {self.where} is open read-only")
        self.driver.unregister(name, session_id, deadline=deadline)

    def heartbeat(self, name: str, session_id: str, **changes: object) -> bool:
        """Refresh last_seen (and whichever of can_push, receipts and door is given); False when the row
        is gone (reaped) and the caller must register again."""
        return self.writer.write(presence.heartbeat(name, session_id, **changes))

    def peers(self, *, include_stale: bool = False) -> list[Peer]:
        """Live peers by name; stale ones are reaped (their mail stays queued) unless asked for or read-only."""
        now = time.time()
        with self._read() as conn:
            everyone = [presence.peer_of(row) for row in conn.execute(select(peers).order_by(peers.c.name)).all()]
        stale = [peer for peer in everyone if not presence.is_live(peer, now, self.settings.stale_seconds)]
        if stale and not include_stale and not self.readonly:
            self.writer.write(presence.reap(stale))
        return [peer for peer in everyone if include_stale or peer not in stale]

    def peer(self, name: str) -> Peer | None:
        """The live peer holding ``name``, or None (one indexed read, no reaping)."""
        with self._read() as conn:
            row = conn.execute(select(peers).where(peers.c.name == name)).first()
        found = presence.peer_of(row) if row is not None else None
        return found if found is not None and self.is_live(found) else None

    def rename(self, old: str, new: str, session_id: str) -> Peer:
        """Atomically move this session (and its pending mail) from ``old`` to ``new``."""
        return self.writer.write(presence.rename(old, new, session_id, self.settings.stale_seconds))

    # mailbox ------------------------------------------------------------------

    def send(self, sender: str, to: str, body: object, *, reply_to: int | None = None) -> SendReceipt:
        """Enqueue ``body`` for ``to`` (a name, or ``*`` for every other live peer)."""
        outcome = self.send_many(sender, [Outgoing(to, body, reply_to)])[0]
        if isinstance(outcome, BusError):
            raise outcome
        return outcome

    def send_many(self, sender: str, outgoing: Sequence[Outgoing]) -> list[SendReceipt | BusError]:
        """Enqueue several sends of one sender in one transaction, in order (mailbox.send)."""
        return self.writer.write(mailbox.send(self.settings, sender, outgoing))

    def claimable(self, recipient: str) -> bool:
        """Whether ``recipient`` has mail a drainer may push now (a read: an empty mailbox costs no write)."""
        now = time.time()
        with self._read() as conn:
            row = conn.execute(
                _ANY_CLAIMABLE,
                {
                    "mailbox": recipient,
                    "repush_before": now - self.settings.receipt_grace_seconds,
                    "max_pushes": self.settings.receipt_max_pushes,
                },
            ).first()
        return row is not None

    def claim(
        self, recipient: str, claimer: str, *, limit: int = 100, pushes: Sequence[PushStamp] = ()
    ) -> list[Envelope]:
        """Lease the oldest pending messages of ``recipient`` to ``claimer`` (mailbox.claim)."""
        if not pushes and not self.claimable(recipient):
            return []
        return self.writer.write(mailbox.claim(self.settings, recipient, claimer, limit=limit, pushes=pushes))

    def mark_delivered(self, ids: Iterable[int], *, pushed: bool = True) -> None:
        """Stamp delivered_at; call only after the Delivery port resolved for these ids (mailbox.mark_delivered)."""
        self.writer.write(mailbox.mark_delivered(ids, pushed=pushed))

    def mark_pushed(self, claimer: str, pushes: Sequence[PushStamp]) -> None:
        """Stamp pushed_at for a recipient with receipts (mailbox.mark_pushed)."""
        self.writer.write(mailbox.mark_pushed(claimer, pushes))

    def confirm_receipts(
        self,
        recipient: str,
        sightings: Iterable[mailbox.Sighting],
        *,
        claimer: str = "",
        pushes: Sequence[PushStamp] = (),
    ) -> tuple[list[int], list[int]]:
        """Stamp what ``recipient``'s client showed; (seen, received) ids (mailbox.confirm_receipts)."""
        return self.writer.write(mailbox.confirm_receipts(recipient, sightings, claimer=claimer, pushes=pushes))

    def release(self, ids: Iterable[int], claimer: str) -> None:
        """Give back claimed but undelivered messages so the next drain pass retries them."""
        self.writer.write(mailbox.release(ids, claimer))

    def prune(self, older_than_seconds: float | None = None) -> int:
        """Delete delivered messages older than the TTL; pending mail is never pruned."""
        ttl = self.settings.delivered_ttl_seconds if older_than_seconds is None else older_than_seconds
        return self.writer.write(mailbox.prune(ttl))

    # reports ------------------------------------------------------------------

    def receipt(self, message_id: int) -> Receipt:
        """The receipt ladder of one message (UnknownMessage if there is no such id)."""
        with self._read() as conn:
            return reports.receipt(conn, message_id, self.settings.stale_seconds)

    def pending(self, recipient: str) -> list[Envelope]:
        with self._read() as conn:
            return reports.pending(conn, recipient)

    def history(self, name: str | None = None, *, limit: int = 20, after_id: int | None = None) -> list[Envelope]:
        """Messages to or from ``name`` (all if None), oldest first (reports.history)."""
        with self._read() as conn:
            return reports.history(conn, name, limit=limit, after_id=after_id)

    def delivery_state(self, message_id: int) -> tuple[float | None, str | None]:
        """(delivered_at, claimed_by) of one message; UnknownMessage if there is no such id."""
        with self._read() as conn:
            return reports.delivery_state(conn, message_id)

    def rungs(
        self, *, after_id: int = 0, also: list[int] | None = None, limit: int = 2_000, before_id: int | None = None
    ) -> list[Rungs]:
        """Messages with their receipt ladder (reports.rungs): what a live view reads as the bus changes."""
        with self._read() as conn:
            return reports.rungs(conn, after_id=after_id, also=also or [], limit=limit, before_id=before_id)

    def mailbox_stats(self) -> list[MailboxStats]:
        """Pending and delivered counts per recipient (reports.mailbox_stats)."""
        with self._read() as conn:
            return reports.mailbox_stats(conn)
