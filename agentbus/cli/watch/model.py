"""What the watch shows, read from the bus: sessions with their mail, and messages on the receipt ladder.

Pure data and one read function (``read_traffic``), so the view (app.py) only draws and the tests
check what is shown without a terminal. A message's rung is the highest one with a proof: answered
(a reply from its recipient), seen, received, pushed, else queued. Mail is *stuck* when it waited
longer than doctor's threshold for a live session that should have taken it (doctor's words say
what to do).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from agentbus.core.bus import Bus, Peer
from agentbus.core.names import BROADCAST
from agentbus.core.presence import is_live
from agentbus.core.records import Rungs

#: Doctor's threshold: pending this long for a live session is stuck.
STUCK_AFTER_SECONDS = 60.0
RUNGS = ("queued", "pushed", "received", "seen", "answered")
STUCK_HINT = "stuck: see `agentbus doctor` (restart that session; `agentbus status ID` shows the ladder)"


@dataclass
class Message:
    """One message and the times of its rungs (epoch seconds, or None)."""

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
    answered_at: float | None = None
    answer_id: int | None = None

    @property
    def rung(self) -> str:
        if self.answered_at is not None:
            return "answered"
        if self.seen_at is not None:
            return "seen"
        if self.received_at is not None:
            return "received"
        if self.pushed_at is not None or self.delivered_at is not None:
            return "pushed"
        return "queued"

    @property
    def settled(self) -> bool:
        """Nothing more will change but an answer: seen, or delivered without receipts."""
        return self.seen_at is not None or self.delivered_at is not None

    def stuck(self, now: float, live: bool) -> bool:
        return live and self.delivered_at is None and now - self.created_at > STUCK_AFTER_SECONDS


@dataclass
class Session:
    """A peer as the watch lists it."""

    peer: Peer
    live: bool
    pending: int = 0

    @property
    def door(self) -> str:
        return (self.peer.door or "push") if self.peer.can_push else "pull"


@dataclass
class Traffic:
    """The messages the watch holds (by id) and what it reads next; a broadcast's copies (one row per
    recipient, sent in one write: same sender, body and time) are a group."""

    messages: dict[int, Message] = field(default_factory=dict)
    last_id: int = 0
    groups: dict[tuple[str, float, str], list[int]] = field(default_factory=dict)

    def group_of(self, message: Message) -> list[Message]:
        """The copies of the send ``message`` belongs to, by id (itself alone unless a broadcast)."""
        ids = self.groups.get((message.sender, message.created_at, message.body), [])
        if message.id not in ids:
            return [message]
        return [self.messages[i] for i in ids if i in self.messages]

    def merge(self, found: Iterable[Message]) -> list[Message]:
        """Take fresh rows in; return the messages that are new or changed (answers included)."""
        changed: dict[int, Message] = {}
        for message in found:
            old = self.messages.get(message.id)
            if old is not None:
                message.answered_at, message.answer_id = old.answered_at, old.answer_id
            if old != message:
                self.messages[message.id] = message
                changed[message.id] = message
            if old is None:
                self._group(message)
            self.last_id = max(self.last_id, message.id)
        for message in list(changed.values()):
            original = self.messages.get(message.reply_to) if message.reply_to is not None else None
            if original is not None and message.sender == original.recipient and original.answer_id is None:
                original.answered_at, original.answer_id = message.created_at, message.id
                changed[original.id] = original
        return sorted(changed.values(), key=lambda m: m.id)

    def _group(self, message: Message) -> None:
        """A broadcast's copies share their sender, body and time, each to another recipient; a copy to a
        recipient the group already has is another send (the same text sent twice in one write)."""
        key = (message.sender, message.created_at, message.body)
        members = self.groups.setdefault(key, [])
        if all(self.messages[i].recipient != message.recipient for i in members if i in self.messages):
            members.append(message.id)

    @property
    def first_id(self) -> int | None:
        """The oldest message held (the next older page ends below it)."""
        return min(self.messages, default=None)

    def unsettled(self) -> list[int]:
        return [m.id for m in self.messages.values() if not m.settled]

    def thread_of(self, message_id: int) -> set[int]:
        """Ids of the thread ``message_id`` is in: its first message and every reply below it."""
        root = self.messages.get(message_id)
        while root is not None and root.reply_to is not None and root.reply_to in self.messages:
            root = self.messages[root.reply_to]
        if root is None:
            return set()
        replies: dict[int, list[int]] = {}
        for message in self.messages.values():
            if message.reply_to is not None:
                replies.setdefault(message.reply_to, []).append(message.id)
        members, frontier = {root.id}, [root.id]
        while frontier:
            for reply in replies.get(frontier.pop(), []):
                if reply not in members:
                    members.add(reply)
                    frontier.append(reply)
        return members


def message_of(rungs: Rungs) -> Message:
    return Message(
        rungs.id,
        rungs.sender,
        rungs.recipient,
        rungs.body,
        rungs.created_at,
        rungs.reply_to,
        rungs.pushed_at,
        rungs.received_at,
        rungs.seen_at,
        rungs.delivered_at,
    )


def read_messages(bus: Bus, traffic: Traffic, limit: int) -> list[Message]:
    """What changed on the bus since ``traffic`` was last merged (the newest ``limit`` at first): new
    messages and the rungs of those still climbing; merged in, and returned."""
    found = bus.rungs(after_id=traffic.last_id, also=traffic.unsettled(), limit=limit)
    return traffic.merge(message_of(rungs) for rungs in found)


def read_sessions(bus: Bus, now: float) -> list[Session]:
    """Every registered peer (stale ones too, marked), with its pending count; live as of ``now``."""
    pending = {stats.recipient: stats.pending for stats in bus.mailbox_stats()}
    stale = bus.settings.stale_seconds
    found = [
        Session(peer, is_live(peer, now, stale), pending.get(peer.name, 0)) for peer in bus.peers(include_stale=True)
    ]
    return sorted(found, key=lambda s: (not s.live, s.peer.name))


def shown_recipient(message: Message) -> str:
    return "everyone" if message.recipient == BROADCAST else message.recipient
