"""What the bus hands out: peers, send receipts, receipt ladders and mailbox counts (plain dataclasses)."""

from dataclasses import dataclass

from agentbus.core.envelope import Envelope


@dataclass(frozen=True, slots=True)
class Peer:
    name: str
    session_id: str
    pid: int
    host: str
    adapter: str
    can_push: bool
    started_at: float
    last_seen: float
    receipts: bool = False
    #: How messages reach its model (native, channel, app-server, pull); None: an older core, or connecting.
    door: str | None = None

    @property
    def receives(self) -> str:
        """How it receives, in words: ``push (<door>)``, ``push`` (a core that names no door), or ``pull only``."""
        if not self.can_push:
            return "pull only"
        return f"push ({self.door})" if self.door else "push"


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """What happened to one send: the message ids, who they went to, who was offline."""

    ids: tuple[int, ...]
    recipients: tuple[str, ...]
    queued_offline: tuple[str, ...]
    pull_only: tuple[str, ...] = ()  # live recipients that receive only by read_messages


@dataclass(frozen=True, slots=True)
class PushStamp:
    """Pushes to a peer with receipts whose ``pushed_at`` is not written yet: the ids, and when they
    resolved (written to the client). Written in the next write transaction of that peer's endpoint
    (its claim or its receipts), or on their own after a moment (Endpoint.PUSH_STAMP_DELAY)."""

    ids: tuple[int, ...]
    at: float


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One send of a batch (``Bus.send_many``): a name or ``*``, the text, and what it replies to."""

    to: str
    body: object
    reply_to: int | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where one message is on the ladder (SPEC RCPT-1): queued -> pushed -> received -> seen [-> answered].

    ``delivered_at`` is when its adapter was done with it: seen (a recipient with receipts), pushed
    (one without), or returned by read_messages. ``recipient_receipts``: the recipient, as
    registered now, proves seen; a sender waits for ``seen`` only then.
    """

    envelope: Envelope
    pushed_at: float | None
    received_at: float | None
    seen_at: float | None
    delivered_at: float | None
    attempts: int
    answered_at: float | None
    answer_id: int | None
    recipient_live: bool
    recipient_receipts: bool

    @property
    def state(self) -> str:
        """The highest rung reached: answered, seen, received, delivered (pulled, or pushed without receipts),
        pushed, or queued."""
        if self.answered_at is not None:
            return "answered"
        if self.seen_at is not None:
            return "seen"
        if self.received_at is not None:
            return "received"
        if self.delivered_at is not None:
            return "delivered"
        if self.pushed_at is not None:
            return "pushed"
        return "queued"


@dataclass(frozen=True, slots=True)
class MailboxStats:
    """Counts of one mailbox. ``pending`` counts every undelivered message; of those, ``unreceived``
    were pushed to a peer with receipts and not received by its client yet (oldest push at
    ``oldest_unreceived_push``), and ``queued_in_client`` were received but not seen yet."""

    recipient: str
    pending: int
    delivered: int
    oldest_pending_at: float | None
    unreceived: int = 0
    oldest_unreceived_push: float | None = None
    queued_in_client: int = 0
    oldest_queued_in_client: float | None = None


@dataclass(frozen=True, slots=True)
class Rungs:
    """One message with the stamps of its ladder (epoch seconds, or None): what ``agentbus watch`` shows."""

    id: int
    sender: str
    recipient: str
    body: str
    created_at: float
    reply_to: int | None
    pushed_at: float | None
    received_at: float | None
    seen_at: float | None
    delivered_at: float | None
