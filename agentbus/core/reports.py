"""What the bus reports to the CLI, doctor and tests: one message's receipt ladder, mail, history, counts.

Reads on a SQLAlchemy connection (a read transaction of ``Bus``); nothing here writes.
"""

import time
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from agentbus.core.envelope import Envelope
from agentbus.core.errors import UnknownMessage
from agentbus.core.presence import is_live, peer_of
from agentbus.core.records import MailboxStats, Receipt, Rungs
from agentbus.core.schema import messages, peers


def envelope_of(row: Any) -> Envelope:
    return Envelope(
        id=row.id,
        sender=row.sender,
        recipient=row.recipient,
        body=row.body,
        created_at=row.created_at,
        reply_to=row.reply_to,
    )


def receipt(conn: Connection, message_id: int, stale_seconds: float) -> Receipt:
    """The receipt ladder of one message (UnknownMessage if there is no such id)."""
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
        envelope=envelope_of(row),
        pushed_at=row.pushed_at,
        received_at=row.received_at,
        seen_at=row.seen_at,
        delivered_at=row.delivered_at,
        attempts=row.attempts,
        answered_at=answer.created_at if answer is not None else None,
        answer_id=answer.id if answer is not None else None,
        recipient_live=holder is not None and is_live(peer_of(holder), time.time(), stale_seconds),
        recipient_receipts=bool(holder.receipts) if holder is not None else False,
    )


def pending(conn: Connection, recipient: str) -> list[Envelope]:
    rows = conn.execute(
        select(messages)
        .where(and_(messages.c.recipient == recipient, messages.c.delivered_at.is_(None)))
        .order_by(messages.c.id)
    ).all()
    return [envelope_of(row) for row in rows]


def history(
    conn: Connection, name: str | None = None, *, limit: int = 20, after_id: int | None = None
) -> list[Envelope]:
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
    rows = conn.execute(query).all()
    ordered = rows if after_id is not None else list(reversed(rows))
    return [envelope_of(row) for row in ordered]


def delivery_state(conn: Connection, message_id: int) -> tuple[float | None, str | None]:
    """(delivered_at, claimed_by) of one message; UnknownMessage if there is no such id."""
    row = conn.execute(
        select(messages.c.delivered_at, messages.c.claimed_by).where(messages.c.id == message_id)
    ).first()
    if row is None:
        raise UnknownMessage(f"no message with id {message_id}")
    return row.delivered_at, row.claimed_by


def mailbox_stats(conn: Connection) -> list[MailboxStats]:
    """Pending and delivered counts per recipient, with the creation time of the oldest pending."""
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


_RUNG_COLUMNS = (
    messages.c.id,
    messages.c.sender,
    messages.c.recipient,
    messages.c.body,
    messages.c.created_at,
    messages.c.reply_to,
    messages.c.pushed_at,
    messages.c.received_at,
    messages.c.seen_at,
    messages.c.delivered_at,
)


def rungs(conn: Connection, *, after_id: int, also: list[int], limit: int, before_id: int | None = None) -> list[Rungs]:
    """Messages with their ladder, by id: the newest ``limit`` when ``after_id`` is 0 (below ``before_id``
    if given: an older page), else every one after ``after_id`` and those of ``also`` (still climbing)."""
    if after_id == 0:
        query = select(*_RUNG_COLUMNS)
        if before_id is not None:
            query = query.where(messages.c.id < before_id)
        rows = list(reversed(conn.execute(query.order_by(messages.c.id.desc()).limit(limit)).all()))
    else:
        condition = messages.c.id > after_id
        if also:
            condition = or_(condition, messages.c.id.in_(also))
        rows = list(conn.execute(select(*_RUNG_COLUMNS).where(condition).order_by(messages.c.id)).all())
    return [Rungs(**row._mapping) for row in rows]
