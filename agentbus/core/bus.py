"""The bus: presence, the durable mailbox and delivery tracking over one SQLAlchemy engine.

Why this is one module (~770 lines): it is the ``Bus`` class. Every method is one transaction
through the same ``_write``/``_hot_write``/``_read`` helpers, and the mailbox rules (SPEC SCHEMA-4:
claimable, leases, stamps) are read together across send, claim, stamps and receipts; splitting the
class into mixins would scatter one set of invariants over several files sharing private state.
What needs no SQLAlchemy lives beside it and is re-exported here: the records (records.py),
liveness and ids (liveness.py), the name rule and its statements (presence.py), the hot paths'
statements (mailbox_sql.py), the bus at the driver level (busfile.py for SQLite, pgdriver.py for
PostgreSQL: registration, and on SQLite the hot writes, run there).
"""

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    TextClause,
    and_,
    bindparam,
    delete,
    func,
    make_url,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError

from agentbus.core import mailbox_sql as sql
from agentbus.core import migrate
from agentbus.core.busfile import BusFile, DriverTx, sqlite_file
from agentbus.core.config import Backend, Settings
from agentbus.core.engine import WRITE_OPTION, lock_mailbox, make_engine, translate_db_error
from agentbus.core.envelope import Envelope, iso_utc
from agentbus.core.errors import (
    BodyTooLarge,
    BusError,
    BusUnavailable,
    InvalidBody,
    NameTaken,
    RateLimited,
    SelfSend,
    UnknownMessage,
    WouldWait,
)
from agentbus.core.liveness import HOST, claimer_id, claimer_is_dead, new_session_id, pid_alive
from agentbus.core.names import BROADCAST, validate_name
from agentbus.core.pgdriver import PgDriver
from agentbus.core.presence import LEAVE, arriving, first_free, take_name
from agentbus.core.readonly import readonly_engine
from agentbus.core.records import MailboxStats, Outgoing, Peer, PushStamp, Receipt, SendReceipt
from agentbus.core.schema import messages, peers

# The records and the liveness helpers live in their own modules (importable without SQLAlchemy);
# these names stay importable from here.
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
    "pid_alive",
]

MAX_MESSAGE_ID = 2**63 - 1

# The statements of the hot paths (send, claim, stamp), built once: SQLAlchemy then only binds
# values and finds the compiled form in its cache, instead of rebuilding the expression per call.
_PENDING = and_(messages.c.recipient == bindparam("mailbox"), messages.c.delivered_at.is_(None))
# What a drainer may push now (mailbox_sql.CLAIMABLE, which says why), for the read-only look.
_CLAIMABLE = and_(
    _PENDING,
    messages.c.received_at.is_(None),
    or_(
        messages.c.pushed_at.is_(None),
        and_(
            messages.c.attempts < bindparam("max_pushes"),
            or_(messages.c.claimed_at.is_(None), messages.c.claimed_at < bindparam("repush_before")),
        ),
    ),
)
_ANY_PENDING = select(messages.c.id).where(_CLAIMABLE).limit(1)


_TEXTS: dict[tuple[str, tuple[str, ...]], TextClause] = {}


def _text(statement: str, params: Mapping[str, Any]) -> TextClause:
    """The ``text`` of ``statement`` (built once), its list parameters bound as expanding."""
    lists = tuple(sorted(name for name, value in params.items() if isinstance(value, list | tuple)))
    clause = _TEXTS.get((statement, lists))
    if clause is None:
        expanded = statement
        for name in lists:  # an expanding parameter brings its own parentheses: IN (:ids) -> IN :ids
            expanded = expanded.replace(f"(:{name})", f":{name}")
        clause = text(expanded).bindparams(*(bindparam(name, expanding=True) for name in lists))
        _TEXTS[(statement, lists)] = clause
    return clause


class _EngineTx:
    """presence.Tx and mailbox_sql.Tx on a SQLAlchemy connection inside a write transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def run(self, statement: str, params: Mapping[str, Any]) -> None:
        self.conn.execute(_text(statement, params), dict(params))

    def first(self, statement: str, params: Mapping[str, Any]) -> Sequence[Any] | None:
        return self.conn.execute(_text(statement, params), dict(params)).first()

    def rows(self, statement: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        return list(self.conn.execute(_text(statement, params), dict(params)).all())

    def lock_mailbox(self, recipient: str) -> None:
        lock_mailbox(self.conn, recipient)


def _envelope(row: Any) -> Envelope:
    return Envelope(
        id=row.id,
        sender=row.sender,
        recipient=row.recipient,
        body=row.body,
        created_at=row.created_at,
        reply_to=row.reply_to,
    )


def _peer_of(values: Sequence[Any]) -> Peer:
    """A Peer from a row of mailbox_sql.PEER_COLUMNS."""
    name, session_id, pid, host, adapter, can_push, started_at, last_seen, receipts, door = values
    return Peer(name, session_id, pid, host, adapter, bool(can_push), started_at, last_seen, bool(receipts), door)


def _peer(row: Any) -> Peer:
    return Peer(
        name=row.name,
        session_id=row.session_id,
        pid=row.pid,
        host=row.host,
        adapter=row.adapter,
        can_push=bool(row.can_push),
        started_at=row.started_at,
        last_seen=row.last_seen,
        receipts=bool(row.receipts),
        door=row.door,
    )


class Bus:
    """One open bus. Thread-safe: every method runs in its own short transaction."""

    def __init__(
        self, settings: Settings, *, driver: "BusFile | PgDriver | None" = None, readonly: bool = False
    ) -> None:
        """Open the bus of ``settings``. ``driver``: the bus already opened at the driver level (a SQLite
        ``BusFile``, a PostgreSQL ``PgDriver``: the adapter registers through it before it answers, then
        builds the rest here); this bus closes it. ``readonly``: see open_readonly."""
        self.settings = settings
        self.readonly = readonly
        #: The SQLite file at the driver level: its hot writes (mailbox_sql) run there.
        self.file: BusFile | None = None
        #: What writes names (register, unregister): the driver of either backend, every time.
        self.names: BusFile | PgDriver | None = None
        if readonly:
            self.where = str(settings.db_path) if not settings.db_url else make_url(settings.url).render_as_string()
            self.engine = readonly_engine(settings)
            try:
                self.schema_revision: str | None = migrate.current_revision(self.engine) or ""
            except DBAPIError as exc:
                self.engine.dispose()
                raise translate_db_error(exc, self.where) from exc
            return
        if driver is None and sqlite_file(settings.url) is not None:
            driver = BusFile(settings)
        elif driver is None and settings.backend is Backend.POSTGRESQL:
            driver = PgDriver(settings)
        if driver is not None:
            self.names = driver
            self.file = driver if isinstance(driver, BusFile) else None
            self.where = driver.where
            self.schema_revision = driver.schema_revision
            self.engine = driver.take_engine() or make_engine(
                settings.url, busy_timeout_seconds=settings.busy_timeout_seconds, where=self.where
            )
            return
        # An in-memory SQLite bus (no file to share): everything on the engine.
        self.where = make_url(settings.url).render_as_string()
        self.engine = make_engine(settings.url, busy_timeout_seconds=settings.busy_timeout_seconds, where=self.where)
        try:
            self.schema_revision = migrate.upgrade(self.engine, None)
        except DBAPIError as exc:
            self.engine.dispose()
            raise translate_db_error(exc, self.where) from exc

    @classmethod
    def open(cls, settings: Settings | None = None) -> "Bus":
        return cls(settings or Settings.from_env())

    @classmethod
    def open_readonly(cls, settings: Settings) -> "Bus":
        """An existing bus, never created, migrated or changed: peers() does not reap, writes raise."""
        return cls(settings, readonly=True)

    def close(self) -> None:
        self.engine.dispose()
        if self.names is not None:
            self.names.close()

    def __enter__(self) -> "Bus":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        if self.readonly:
            raise BusUnavailable(f"the bus at {self.where} is open read-only")
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    yield conn
        except DBAPIError as exc:
            raise translate_db_error(exc, self.where) from exc

    @contextmanager
    def _hot_write(self, wait: bool = True) -> Iterator[sql.Tx]:
        """A write transaction for mailbox_sql's statements: on the driver connection of a SQLite bus.

        ``wait=False`` (the hot methods' argument): begin only if the bus's write lock is free at once,
        else raise WouldWait having written nothing; a caller on an event loop then runs the same call
        in a worker thread. Only a SQLite bus file can begin without waiting; elsewhere it is WouldWait.
        """
        if self.readonly:
            raise BusUnavailable(f"the bus at {self.where} is open read-only")
        if self.file is not None:
            with self.file.write(wait=wait) as conn:
                yield DriverTx(conn)
        elif not wait:
            raise WouldWait
        else:
            with self._write() as conn:
                yield _EngineTx(conn)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except DBAPIError as exc:
            raise translate_db_error(exc, self.where) from exc

    # presence -----------------------------------------------------------------

    def _is_live(self, row: Any, now: float, *, thorough: bool = False) -> bool:
        if row.last_seen < now - self.settings.stale_seconds:
            return False
        return not (row.host == HOST and not pid_alive(row.pid, thorough=thorough))

    def is_live(self, peer: Peer) -> bool:
        """The liveness rule (SPEC PRES-3): seen within the stale window and, on this host, running."""
        return self._is_live(peer, time.time())

    def register(
        self,
        name: str,
        *,
        session_id: str,
        adapter: str,
        pid: int | None = None,
        host: str = HOST,
        can_push: bool = False,
        receipts: bool = False,
        door: str | None = None,
    ) -> Peer:
        """Take ``name`` for this session; NameTaken if another live session holds it.

        A bus registers on its driver connection (busfile.py, pgdriver.py), every time, as a starting
        adapter does before SQLAlchemy is loaded; only an in-memory SQLite bus runs the same statements
        (presence.py) on the engine.
        """
        if self.names is not None:
            return self.names.register(
                name,
                session_id=session_id,
                adapter=adapter,
                pid=pid,
                host=host,
                can_push=can_push,
                receipts=receipts,
                door=door,
            )
        peer = arriving(
            name,
            session_id=session_id,
            adapter=adapter,
            pid=pid,
            host=host,
            can_push=can_push,
            receipts=receipts,
            door=door,
        )
        with self._write() as conn:
            # Under READ COMMITTED two first starts could both find the name free and the second
            # INSERT hit the primary key; the name's lock (the one rename takes) serialises them.
            lock_mailbox(conn, name)
            take_name(_EngineTx(conn), peer, self.settings.stale_seconds)
        return peer

    def register_unique(self, preferred: str, **kwargs: Any) -> Peer:
        """The naming policy for a starting session: ``preferred``, else ``preferred-2``, ``-3``..."""
        return first_free(lambda name: self.register(name, **kwargs), preferred)

    def heartbeat(
        self,
        name: str,
        session_id: str,
        *,
        can_push: bool | None = None,
        receipts: bool | None = None,
        door: str | None = None,
    ) -> bool:
        """Refresh last_seen (and whichever of can_push, receipts and door is given); False when the row
        is gone (reaped) and the caller must register again."""
        values: dict[str, Any] = {"last_seen": time.time()}
        if can_push is not None:
            values["can_push"] = can_push
        if receipts is not None:
            values["receipts"] = receipts
        if door is not None:
            values["door"] = door
        with self._write() as conn:
            result = conn.execute(
                update(peers).where(and_(peers.c.name == name, peers.c.session_id == session_id)).values(**values)
            )
        return result.rowcount == 1

    def unregister(self, name: str, session_id: str) -> None:
        if self.names is not None:
            self.names.unregister(name, session_id)
            return
        with self._write() as conn:
            conn.execute(text(LEAVE), {"name": name, "session_id": session_id})

    def peers(self, *, include_stale: bool = False) -> list[Peer]:
        """Live peers by name; stale ones are reaped (their mail stays queued) unless asked for or read-only."""
        now = time.time()
        with self._read() as conn:
            rows = conn.execute(select(peers).order_by(peers.c.name)).all()
        stale = [row for row in rows if not self._is_live(row, now)]
        if stale and not include_stale and not self.readonly:
            self._reap(stale)
        return [_peer(row) for row in rows if include_stale or self._is_live(row, now)]

    def _reap(self, stale_rows: Sequence[Any]) -> None:
        with self._write() as conn:
            for row in stale_rows:
                conn.execute(
                    delete(peers).where(
                        and_(
                            peers.c.name == row.name,
                            peers.c.session_id == row.session_id,
                            peers.c.last_seen == row.last_seen,
                        )
                    )
                )

    def peer(self, name: str) -> Peer | None:
        """The live peer holding ``name``, or None."""
        return next(iter(self._live_peer(name)), None)

    def rename(self, old: str, new: str, session_id: str) -> Peer:
        """Atomically move this session (and its pending mail) from ``old`` to ``new``."""
        validate_name(new, what="new name")
        now = time.time()
        with self._write() as conn:
            for mailbox in sorted({old, new}):
                lock_mailbox(conn, mailbox)
            me = conn.execute(select(peers).where(and_(peers.c.name == old, peers.c.session_id == session_id))).first()
            if me is None:
                raise BusError(f"this session is not registered as {old!r}; it cannot be renamed")
            if new == old:
                return _peer(me)
            holder = conn.execute(select(peers).where(peers.c.name == new)).first()
            if holder is not None:
                if self._is_live(holder, now, thorough=True):
                    raise NameTaken(f"name taken: {new!r} is held by a live session (pid {holder.pid}); choose another")
                conn.execute(delete(peers).where(peers.c.name == new))
            conn.execute(update(peers).where(peers.c.name == old).values(name=new, last_seen=now))
            conn.execute(
                update(messages)
                .where(and_(messages.c.recipient == old, messages.c.delivered_at.is_(None)))
                .values(recipient=new, claimed_by=None, claimed_at=None)
            )
            row = conn.execute(select(peers).where(peers.c.name == new)).one()
        return _peer(row)

    # mailbox ------------------------------------------------------------------

    def _check_body(self, body: object) -> str:
        if not isinstance(body, str):
            raise InvalidBody(f"text must be a string, got {type(body).__name__}")
        if body == "":
            raise InvalidBody("text is empty; write the message to send")
        try:
            size = len(body.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidBody("text is not valid Unicode (it contains a lone surrogate)") from None
        if size > self.settings.max_body:
            raise BodyTooLarge(
                f"text is {size} bytes; the limit is {self.settings.max_body} bytes "
                "(AGENTBUS_MAX_BODY). Split it or send a file path instead"
            )
        if "\x00" in body:
            raise InvalidBody("text contains a NUL character")
        return body

    def send(self, sender: str, to: str, body: object, *, reply_to: int | None = None) -> SendReceipt:
        """Enqueue ``body`` for ``to`` (a name, or ``*`` for every other live peer)."""
        outcome = self.send_many(sender, [Outgoing(to, body, reply_to)])[0]
        if isinstance(outcome, BusError):
            raise outcome
        return outcome

    def send_many(
        self, sender: str, outgoing: Sequence["Outgoing"], *, wait: bool = True
    ) -> list[SendReceipt | BusError]:
        """Enqueue several sends of one sender in one transaction (group commit), in order.

        Each send succeeds or fails on its own: the list holds a receipt or the BusError refusing it,
        position by position. A failure of the bus itself (locked, unwritable) raises for all.
        ``wait``: see _hot_write (a broadcast, which reads every peer first, always may wait).
        """
        validate_name(sender, what="sender name")
        outcomes: list[SendReceipt | BusError | None] = [None] * len(outgoing)
        checked: dict[int, tuple[str, int | None]] = {}
        for index, item in enumerate(outgoing):
            try:
                checked[index] = self._check_send(sender, item)
            except BusError as exc:
                outcomes[index] = exc
        if not checked:
            return [outcome for outcome in outcomes if outcome is not None]
        targets = {outgoing[i].to for i in checked}
        if not wait and BROADCAST in targets:
            raise WouldWait
        # A broadcast lists (and reaps) every peer first; direct sends look up their recipients in
        # the write transaction itself: one transaction per batch.
        everyone = self.peers() if BROADCAST in targets else None
        now = time.time()
        planned: list[tuple[int, list[str]]] = []
        with self._hot_write(wait) as tx:
            live_peers = everyone if everyone is not None else self._live_peers_named(tx, targets, now)
            live = {p.name: p for p in live_peers}
            budget = self._rate_budget(tx, sender, now)
            for index, (_text, reply_to) in checked.items():
                to = outgoing[index].to
                recipients = sorted(set(live) - {sender}) if to == BROADCAST else [to]
                if not recipients:
                    outcomes[index] = SendReceipt(ids=(), recipients=(), queued_offline=())
                    continue
                if budget is not None:
                    if len(recipients) > budget:
                        outcomes[index] = self._rate_limited(sender, budget)
                        continue
                    budget -= len(recipients)
                if reply_to is not None and not tx.rows(sql.MAY_REPLY, {"reply_to": reply_to, "sender": sender}):
                    outcomes[index] = UnknownMessage(
                        f"reply_to={reply_to}: no message with that id was sent to or by you"
                    )
                    continue
                planned.append((index, recipients))
            rows = [
                {
                    "sender": sender,
                    "recipient": recipient,
                    "body": checked[index][0],
                    "created_at": now,
                    "reply_to": checked[index][1],
                    "attempts": 0,
                }
                for index, recipients in planned
                for recipient in recipients
            ]
            # One INSERT per row (the driver cannot return ids from executemany; in order, by design).
            ids: list[int] = [tx.rows(sql.ENQUEUE, row)[0][0] for row in rows]
            answered = sorted({r["reply_to"] for r in rows if r["reply_to"] is not None})
            if answered:
                tx.run(sql.ANSWER_PROVES_SEEN, {"ids": answered, "reader": sender, "now": now})
        position = 0
        for index, recipients in planned:
            taken = tuple(ids[position : position + len(recipients)])
            position += len(recipients)
            outcomes[index] = SendReceipt(
                ids=taken,
                recipients=tuple(recipients),
                queued_offline=tuple(r for r in recipients if r not in live),
                pull_only=tuple(r for r in recipients if r in live and not live[r].can_push),
            )
        return [outcome for outcome in outcomes if outcome is not None]

    def _check_send(self, sender: str, item: "Outgoing") -> tuple[str, int | None]:
        """The checks that need no database: names, self-send, body, reply_to's type and range."""
        to, reply_to = item.to, item.reply_to
        if to != BROADCAST:
            validate_name(to, what="recipient name")
            if to == sender:
                raise SelfSend(f"you are {sender!r}; a session cannot send a message to itself")
        text = self._check_body(item.body)
        if reply_to is not None and (isinstance(reply_to, bool) or not isinstance(reply_to, int)):
            raise UnknownMessage(f"reply_to must be a message id (an integer), got {reply_to!r}")
        if reply_to is not None and not 0 < reply_to <= MAX_MESSAGE_ID:
            # Out of SQLite's INTEGER range the driver would raise OverflowError: no such id can exist.
            raise UnknownMessage(f"reply_to={reply_to}: no message with that id was sent to or by you")
        return text, reply_to

    def _live_peers_named(self, tx: sql.Tx, names: set[str], now: float) -> list[Peer]:
        named = [_peer_of(row) for row in tx.rows(sql.PEERS_NAMED, {"names": sorted(names)})]
        return [peer for peer in named if self._is_live(peer, now)]

    def _rate_budget(self, tx: sql.Tx, sender: str, now: float) -> int | None:
        """How many more messages ``sender`` may send now (None: no limit)."""
        limit = self.settings.rate_limit_per_minute
        if limit <= 0:
            return None
        ((sent,),) = tx.rows(sql.SENT_SINCE, {"sent_by": sender, "since": now - 60.0})
        return max(0, limit - int(sent))

    def _rate_limited(self, sender: str, budget: int) -> RateLimited:
        limit = self.settings.rate_limit_per_minute
        return RateLimited(
            f"{sender!r} sent {limit - budget} messages in the last minute; the limit is {limit} "
            "(AGENTBUS_RATE_LIMIT_PER_MINUTE). If two agents are replying to each other in a loop, stop"
        )

    def _live_peer(self, name: str) -> list[Peer]:
        """The live peer holding ``name`` as a 0- or 1-element list (one indexed read, no reaping)."""
        with self._read() as conn:
            row = conn.execute(select(peers).where(peers.c.name == name)).first()
        return [_peer(row)] if row is not None and self._is_live(row, time.time()) else []

    def claim(
        self,
        recipient: str,
        claimer: str,
        *,
        limit: int = 100,
        look_first: bool = True,
        wait: bool = True,
        pushes: Sequence[PushStamp] = (),
    ) -> list[Envelope]:
        """Lease the oldest pending messages of ``recipient`` to ``claimer``, in id order.

        Returns nothing while another live claimer holds an unexpired lease on this mailbox,
        so two drainers never push the same message at once and per-recipient order holds.
        ``look_first``: find out with a read whether anything is claimable before taking the write
        lock (an empty mailbox, as at every safety poll, then costs a read); False when the caller
        was just told mail is waiting. ``wait``: see _hot_write (a look first always may wait).
        ``pushes``: this claimer's push stamps not written yet (see mark_pushed), written first in
        the same transaction, so the rows they name are not claimable again. With pushes there is
        no look first: the transaction is taken anyway.
        """
        look_first = look_first and not pushes
        if not wait and look_first:
            raise WouldWait
        now = time.time()
        repush_before = now - self.settings.receipt_grace_seconds
        bounds = {"repush_before": repush_before, "max_pushes": self.settings.receipt_max_pushes}
        if look_first:
            with self._read() as conn:
                if conn.execute(_ANY_PENDING, {"mailbox": recipient, **bounds}).first() is None:
                    return []
        with self._hot_write(wait) as tx:
            self._stamp_pushed(tx, claimer, pushes)
            tx.lock_mailbox(recipient)
            others = tx.rows(
                sql.OTHER_LEASES,
                {"mailbox": recipient, "claimer": claimer, "expired_before": now - self.settings.lease_seconds},
            )
            if any(not claimer_is_dead(other) for (other,) in others):
                return []
            rows = tx.rows(
                sql.CLAIM_OLDEST, {"mailbox": recipient, "claimer": claimer, "now": now, "limit": limit, **bounds}
            )
        return [Envelope(*row) for row in sorted(rows, key=lambda row: row[0])]

    def mark_delivered(self, ids: Iterable[int], *, pushed: bool = True, wait: bool = True) -> None:
        """Stamp delivered_at; call only after the Delivery port resolved for these ids.

        ``pushed=False`` for mail handed over by pull (read_messages): delivered, never pushed.
        """
        id_list = list(ids)
        if not id_list:
            return
        now = time.time()
        with self._hot_write(wait) as tx:
            tx.run(sql.STAMP_DELIVERED, {"ids": id_list, "now": now, "pushed": now if pushed else None})

    def mark_pushed(self, claimer: str, pushes: Sequence[PushStamp], *, wait: bool = True) -> None:
        """Stamp pushed_at for a recipient with receipts: delivered comes with ``confirm_receipts``.

        Each stamp's ``at`` is when its push resolved; the lease is renewed to it (SPEC SCHEMA-4).
        Until seen the message is not pushed again, unless the client has not received it within
        ``receipt_grace_seconds`` (SPEC RCPT-3). An endpoint may hand these stamps to its next
        ``claim`` or ``confirm_receipts`` instead: one write transaction fewer per message.
        """
        if not any(stamp.ids for stamp in pushes):
            return
        with self._hot_write(wait) as tx:
            self._stamp_pushed(tx, claimer, pushes)

    @staticmethod
    def _stamp_pushed(tx: sql.Tx, claimer: str, pushes: Sequence[PushStamp]) -> None:
        for stamp in pushes:
            if stamp.ids:
                tx.run(sql.STAMP_PUSHED, {"ids": list(stamp.ids), "now": stamp.at, "at": stamp.at, "claimer": claimer})

    def confirm_receipts(
        self,
        recipient: str,
        sightings: Iterable[tuple[int, str, str, bool]],
        *,
        wait: bool = True,
        claimer: str = "",
        pushes: Sequence[PushStamp] = (),
    ) -> tuple[list[int], list[int]]:
        """Stamp what ``recipient``'s client showed, in one transaction; returns (seen, received) ids.

        Each sighting is ``(msg_id, sender, ts, seen)``; it counts only for an undelivered message of
        this recipient with that sender and ``ts`` (its envelope's, to the millisecond). A sighting
        may come before the push stamp landed (the client is that fast): the row is still pending.
        ``pushes``: ``claimer``'s push stamps not written yet, written first (see mark_pushed).
        """
        wanted: dict[int, tuple[str, str, bool]] = {}
        for msg_id, sender, ts, in_context in sightings:
            wanted[msg_id] = (sender, ts, in_context or wanted.get(msg_id, ("", "", False))[2])
        if not wanted and not pushes:
            return [], []
        now = time.time()
        with self._hot_write(wait) as tx:
            self._stamp_pushed(tx, claimer, pushes)
            if not wanted:
                return [], []
            rows = tx.rows(sql.SIGHTED, {"ids": sorted(wanted), "recipient": recipient})
            matched = [
                (msg_id, received_at)
                for msg_id, sender, created_at, received_at in rows
                if (sender, iso_utc(created_at)) == wanted[msg_id][:2]
            ]
            seen = sorted(msg_id for msg_id, _ in matched if wanted[msg_id][2])
            received = sorted(
                msg_id for msg_id, received_at in matched if not wanted[msg_id][2] and received_at is None
            )
            if seen:
                tx.run(sql.STAMP_SEEN, {"ids": seen, "now": now})
            if received:
                tx.run(sql.STAMP_RECEIVED, {"ids": received, "now": now})
        return seen, received

    def receipt(self, message_id: int) -> "Receipt":
        """The receipt ladder of one message (UnknownMessage if there is no such id)."""
        with self._read() as conn:
            row = conn.execute(select(messages).where(messages.c.id == message_id)).first()
            if row is None:
                raise UnknownMessage(f"no message with id {message_id}")
            answer = conn.execute(
                select(messages.c.id, messages.c.created_at)
                .where(messages.c.reply_to == message_id, messages.c.sender == row.recipient)
                .order_by(messages.c.id)
                .limit(1)
            ).first()
            holder = conn.execute(select(peers).where(peers.c.name == row.recipient)).first()
        return Receipt(
            envelope=_envelope(row),
            pushed_at=row.pushed_at,
            received_at=row.received_at,
            seen_at=row.seen_at,
            delivered_at=row.delivered_at,
            attempts=row.attempts,
            answered_at=answer.created_at if answer is not None else None,
            answer_id=answer.id if answer is not None else None,
            recipient_live=holder is not None and self._is_live(holder, time.time()),
            recipient_receipts=bool(holder.receipts) if holder is not None else False,
        )

    def release(self, ids: Iterable[int], claimer: str) -> None:
        """Give back claimed but undelivered messages so the next drain pass retries them."""
        id_list = list(ids)
        if not id_list:
            return
        with self._write() as conn:
            conn.execute(
                update(messages)
                .where(
                    and_(
                        messages.c.id.in_(id_list),
                        messages.c.claimed_by == claimer,
                        messages.c.delivered_at.is_(None),
                    )
                )
                .values(claimed_by=None, claimed_at=None)
            )

    def pending(self, recipient: str) -> list[Envelope]:
        with self._read() as conn:
            rows = conn.execute(
                select(messages)
                .where(and_(messages.c.recipient == recipient, messages.c.delivered_at.is_(None)))
                .order_by(messages.c.id)
            ).all()
        return [_envelope(row) for row in rows]

    def history(self, name: str | None = None, *, limit: int = 20, after_id: int | None = None) -> list[Envelope]:
        """Messages to or from ``name`` (all if None), oldest first.

        Without ``after_id``: the ``limit`` most recent. With it: the ``limit`` oldest with a larger
        id, so a follower that pages with the last id it saw never skips a message.
        """
        query = select(messages)
        if name is not None:
            query = query.where(or_(messages.c.recipient == name, messages.c.sender == name))
        if after_id is not None:
            query = query.where(messages.c.id > after_id).order_by(messages.c.id).limit(limit)
        else:
            query = query.order_by(messages.c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        ordered = rows if after_id is not None else list(reversed(rows))
        return [_envelope(row) for row in ordered]

    def delivery_state(self, message_id: int) -> tuple[float | None, str | None]:
        """(delivered_at, claimed_by) of one message; UnknownMessage if there is no such id."""
        with self._read() as conn:
            row = conn.execute(
                select(messages.c.delivered_at, messages.c.claimed_by).where(messages.c.id == message_id)
            ).first()
        if row is None:
            raise UnknownMessage(f"no message with id {message_id}")
        return row.delivered_at, row.claimed_by

    def prune(self, older_than_seconds: float | None = None) -> int:
        """Delete delivered messages older than the TTL; pending mail is never pruned."""
        ttl = self.settings.delivered_ttl_seconds if older_than_seconds is None else older_than_seconds
        with self._write() as conn:
            result = conn.execute(
                delete(messages).where(
                    and_(messages.c.delivered_at.is_not(None), messages.c.delivered_at < time.time() - ttl)
                )
            )
        return result.rowcount

    def mailbox_stats(self) -> list[MailboxStats]:
        """Pending and delivered counts per recipient, with the creation time of the oldest pending."""
        with self._read() as conn:
            totals = conn.execute(
                select(
                    messages.c.recipient,
                    func.count().label("total"),
                    func.count(messages.c.delivered_at).label("delivered"),
                )
                .group_by(messages.c.recipient)
                .order_by(messages.c.recipient)
            ).all()
            oldest = dict(
                conn.execute(
                    select(messages.c.recipient, func.min(messages.c.created_at))
                    .where(messages.c.delivered_at.is_(None))
                    .group_by(messages.c.recipient)
                ).all()
            )
            awaiting = {
                row.recipient: row
                for row in conn.execute(
                    select(
                        messages.c.recipient,
                        func.count(messages.c.pushed_at).label("pushed"),
                        func.count(messages.c.received_at).label("received"),
                        func.min(messages.c.pushed_at).label("oldest_push"),
                        func.min(messages.c.received_at).label("oldest_received"),
                    )
                    .where(messages.c.delivered_at.is_(None), messages.c.pushed_at.is_not(None))
                    .group_by(messages.c.recipient)
                ).all()
            }
            oldest_unreceived = dict(
                conn.execute(
                    select(messages.c.recipient, func.min(messages.c.pushed_at))
                    .where(
                        messages.c.delivered_at.is_(None),
                        messages.c.pushed_at.is_not(None),
                        messages.c.received_at.is_(None),
                    )
                    .group_by(messages.c.recipient)
                ).all()
            )
        stats = []
        for row in totals:
            waiting = awaiting.get(row.recipient)
            stats.append(
                MailboxStats(
                    recipient=row.recipient,
                    pending=row.total - row.delivered,
                    delivered=row.delivered,
                    oldest_pending_at=oldest.get(row.recipient),
                    unreceived=(waiting.pushed - waiting.received) if waiting is not None else 0,
                    oldest_unreceived_push=oldest_unreceived.get(row.recipient),
                    queued_in_client=waiting.received if waiting is not None else 0,
                    oldest_queued_in_client=waiting.oldest_received if waiting is not None else None,
                )
            )
        return stats
