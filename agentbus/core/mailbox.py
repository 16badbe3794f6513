"""The mailbox's writes as works of the writer (writer.py): send, claim, stamps, receipts, release, prune.

Each function checks what needs no database, then returns the ``Work`` that does the rest in one
transaction: the same work runs from an event loop (``Writer.submit``) and from a caller without one
(``Writer.write``, through ``Bus``). The statements are mailbox_sql.py's; the rules are SPEC
SCHEMA-4's (what is claimable, leases, the receipt ladder).
"""

import time
from collections.abc import Iterable, Sequence

from agentbus.core import mailbox_sql as sql
from agentbus.core.config import Settings
from agentbus.core.envelope import Envelope, iso_utc
from agentbus.core.errors import BodyTooLarge, BusError, InvalidBody, RateLimited, SelfSend, UnknownMessage
from agentbus.core.liveness import claimer_is_dead
from agentbus.core.names import BROADCAST, validate_name
from agentbus.core.presence import live_peers, peers_named
from agentbus.core.records import Outgoing, Peer, PushStamp, SendReceipt
from agentbus.core.tx import Tx
from agentbus.core.writer import Work

MAX_MESSAGE_ID = 2**63 - 1

Outcome = SendReceipt | BusError


def check_body(settings: Settings, body: object) -> str:
    if not isinstance(body, str):
        raise InvalidBody(f"text must be a string, got {type(body).__name__}")
    if body == "":
        raise InvalidBody("text is empty; write the message to send")
    try:
        size = len(body.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidBody("text is not valid Unicode (it contains a lone surrogate)") from None
    if size > settings.max_body:
        raise BodyTooLarge(
            f"text is {size} bytes; the limit is {settings.max_body} bytes "
            "(AGENTBUS_MAX_BODY). Split it or send a file path instead"
        )
    if "\x00" in body:
        raise InvalidBody("text contains a NUL character")
    return body


def check_send(settings: Settings, sender: str, item: Outgoing) -> tuple[str, int | None]:
    """The checks that need no database: names, self-send, body, reply_to's type and range."""
    to, reply_to = item.to, item.reply_to
    if to != BROADCAST:
        validate_name(to, what="recipient name")
        if to == sender:
            raise SelfSend(f"you are {sender!r}; a session cannot send a message to itself")
    text = check_body(settings, item.body)
    if reply_to is not None and (isinstance(reply_to, bool) or not isinstance(reply_to, int)):
        raise UnknownMessage(f"reply_to must be a message id (an integer), got {reply_to!r}")
    if reply_to is not None and not 0 < reply_to <= MAX_MESSAGE_ID:
        # Out of SQLite's INTEGER range the driver would raise OverflowError: no such id can exist.
        raise UnknownMessage(f"reply_to={reply_to}: no message with that id was sent to or by you")
    return text, reply_to


def _rate_budget(settings: Settings, tx: Tx, sender: str, now: float) -> int | None:
    """How many more messages ``sender`` may send now (None: no limit)."""
    limit = settings.rate_limit_per_minute
    if limit <= 0:
        return None
    ((sent,),) = tx.rows(sql.SENT_SINCE, {"sent_by": sender, "since": now - 60.0})
    return max(0, limit - int(sent))


def _rate_limited(settings: Settings, sender: str, budget: int) -> RateLimited:
    limit = settings.rate_limit_per_minute
    return RateLimited(
        f"{sender!r} sent {limit - budget} messages in the last minute; the limit is {limit} "
        "(AGENTBUS_RATE_LIMIT_PER_MINUTE). If two agents are replying to each other in a loop, stop"
    )


def send(settings: Settings, sender: str, outgoing: Sequence[Outgoing]) -> Work[list[Outcome]]:
    """Enqueue several sends of one sender in one transaction, in order.

    Each send succeeds or fails on its own: the work's list holds a receipt or the BusError refusing
    it, position by position. A broadcast (``*``) goes to every other live peer (stale ones are
    reaped in the same transaction; their mail stays queued).
    """
    validate_name(sender, what="sender name")
    outcomes: list[Outcome | None] = [None] * len(outgoing)
    checked: dict[int, tuple[str, int | None]] = {}
    for index, item in enumerate(outgoing):
        try:
            checked[index] = check_send(settings, sender, item)
        except BusError as exc:
            outcomes[index] = exc
    targets = {outgoing[i].to for i in checked}

    def work(tx: Tx) -> list[Outcome]:
        results = list(outcomes)
        if not checked:
            return [outcome for outcome in results if outcome is not None]
        now = time.time()
        if BROADCAST in targets:
            present = live_peers(tx, settings.stale_seconds, now)
        else:
            present = peers_named(tx, targets, settings.stale_seconds, now)
        live: dict[str, Peer] = {p.name: p for p in present}
        budget = _rate_budget(settings, tx, sender, now)
        planned: list[tuple[int, list[str]]] = []
        for index, (_text, reply_to) in checked.items():
            to = outgoing[index].to
            recipients = sorted(set(live) - {sender}) if to == BROADCAST else [to]
            if not recipients:
                results[index] = SendReceipt(ids=(), recipients=(), queued_offline=())
                continue
            if budget is not None:
                if len(recipients) > budget:
                    results[index] = _rate_limited(settings, sender, budget)
                    continue
                budget -= len(recipients)
            if reply_to is not None and not tx.rows(sql.MAY_REPLY, {"reply_to": reply_to, "sender": sender}):
                results[index] = UnknownMessage(f"reply_to={reply_to}: no message with that id was sent to or by you")
                continue
            planned.append((index, recipients))
        answered: set[int] = set()
        for index, recipients in planned:
            body, reply_to = checked[index]
            # One INSERT per row (the driver cannot return ids from executemany; in order, by design).
            ids = tuple(
                tx.rows(
                    sql.ENQUEUE,
                    {"sender": sender, "recipient": r, "body": body, "created_at": now, "reply_to": reply_to},
                )[0][0]
                for r in recipients
            )
            if reply_to is not None:
                answered.add(reply_to)
            results[index] = SendReceipt(
                ids=ids,
                recipients=tuple(recipients),
                queued_offline=tuple(r for r in recipients if r not in live),
                pull_only=tuple(r for r in recipients if r in live and not live[r].can_push),
            )
        if answered:
            tx.run(sql.ANSWER_PROVES_SEEN, {"ids": sorted(answered), "reader": sender, "now": now})
        return [outcome for outcome in results if outcome is not None]

    return work


def stamp_pushed(tx: Tx, claimer: str, pushes: Sequence[PushStamp]) -> None:
    """Write push stamps for a recipient with receipts; the lease is renewed to each (SPEC SCHEMA-4)."""
    for stamp in pushes:
        if stamp.ids:
            tx.run(sql.STAMP_PUSHED, {"ids": list(stamp.ids), "now": stamp.at, "at": stamp.at, "claimer": claimer})


def claim(
    settings: Settings, recipient: str, claimer: str, *, limit: int = 100, pushes: Sequence[PushStamp] = ()
) -> Work[list[Envelope]]:
    """Lease the oldest pending messages of ``recipient`` to ``claimer``, in id order.

    Nothing while another live claimer holds an unexpired lease on this mailbox, so two drainers
    never push the same message at once and per-recipient order holds. ``pushes``: this claimer's
    push stamps not written yet, written first, so the rows they name are not claimable again.
    """

    def work(tx: Tx) -> list[Envelope]:
        now = time.time()
        stamp_pushed(tx, claimer, pushes)
        tx.lock_mailbox(recipient)
        others = tx.rows(
            sql.OTHER_LEASES,
            {"mailbox": recipient, "claimer": claimer, "expired_before": now - settings.lease_seconds},
        )
        if any(not claimer_is_dead(other) for (other,) in others):
            return []
        rows = tx.rows(
            sql.CLAIM_OLDEST,
            {
                "mailbox": recipient,
                "claimer": claimer,
                "now": now,
                "limit": limit,
                "repush_before": now - settings.receipt_grace_seconds,
                "max_pushes": settings.receipt_max_pushes,
            },
        )
        return [Envelope(*row) for row in sorted(rows, key=lambda row: row[0])]

    return work


def mark_delivered(ids: Iterable[int], *, pushed: bool = True) -> Work[None]:
    """Stamp delivered_at, after the Delivery port resolved for these ids (DELIV-3).

    ``pushed=False`` for mail handed over by pull (read_messages): delivered, never pushed.
    """
    id_list = list(ids)

    def work(tx: Tx) -> None:
        if id_list:
            now = time.time()
            tx.run(sql.STAMP_DELIVERED, {"ids": id_list, "now": now, "pushed": now if pushed else None})

    return work


def mark_pushed(claimer: str, pushes: Sequence[PushStamp]) -> Work[None]:
    """Stamp pushed_at for a recipient with receipts: delivered comes with ``confirm_receipts``.

    Until seen the message is not pushed again, unless the client has not received it within
    ``receipt_grace_seconds`` (SPEC RCPT-3).
    """

    def work(tx: Tx) -> None:
        stamp_pushed(tx, claimer, pushes)

    return work


Sighting = tuple[int, str, str, bool]


def confirm_receipts(
    recipient: str, sightings: Iterable[Sighting], *, claimer: str = "", pushes: Sequence[PushStamp] = ()
) -> Work[tuple[list[int], list[int]]]:
    """Stamp what ``recipient``'s client showed; the work returns (seen, received) ids.

    Each sighting is ``(msg_id, sender, ts, seen)``; it counts only for an undelivered message of
    this recipient with that sender and ``ts`` (its envelope's, to the millisecond). A sighting may
    come before the push stamp landed (the client is that fast): the row is still pending.
    ``pushes``: ``claimer``'s push stamps not written yet, written first (see mark_pushed).
    """
    wanted: dict[int, tuple[str, str, bool]] = {}
    for msg_id, sender, ts, in_context in sightings:
        wanted[msg_id] = (sender, ts, in_context or wanted.get(msg_id, ("", "", False))[2])

    def work(tx: Tx) -> tuple[list[int], list[int]]:
        stamp_pushed(tx, claimer, pushes)
        if not wanted:
            return [], []
        now = time.time()
        rows = tx.rows(sql.SIGHTED, {"ids": sorted(wanted), "recipient": recipient})
        matched = [
            (msg_id, received_at)
            for msg_id, sender, created_at, received_at in rows
            if (sender, iso_utc(created_at)) == wanted[msg_id][:2]
        ]
        seen = sorted(msg_id for msg_id, _ in matched if wanted[msg_id][2])
        received = sorted(msg_id for msg_id, received_at in matched if not wanted[msg_id][2] and received_at is None)
        if seen:
            tx.run(sql.STAMP_SEEN, {"ids": seen, "now": now})
        if received:
            tx.run(sql.STAMP_RECEIVED, {"ids": received, "now": now})
        return seen, received

    return work


def release(ids: Iterable[int], claimer: str) -> Work[None]:
    """Give back claimed but undelivered messages so the next drain pass retries them."""
    id_list = list(ids)

    def work(tx: Tx) -> None:
        if id_list:
            tx.run(sql.RELEASE, {"ids": id_list, "claimer": claimer})

    return work


def prune(older_than_seconds: float) -> Work[int]:
    """Delete delivered messages older than ``older_than_seconds``; pending mail is never pruned."""

    def work(tx: Tx) -> int:
        return tx.run(sql.PRUNE, {"before": time.time() - older_than_seconds})

    return work
