"""Presence: the peers-row writes (take a name, leave, heartbeat, reap, rename) in plain SQL.

One set of statements and one decision (who holds a name, when it may be taken over, who is live:
SPEC PRES-3) for every backend, run by the writer (writer.py) on its driver connection, so a
starting adapter registers without importing SQLAlchemy (SPEC PRES-1).
"""

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from agentbus.core.errors import BusError, NameTaken
from agentbus.core.liveness import HOST, pid_alive
from agentbus.core.names import suffixed, validate_name
from agentbus.core.records import Peer
from agentbus.core.tx import Tx

MAX_NAME_SUFFIX = 99
COLUMNS = ("name", "session_id", "pid", "host", "adapter", "can_push", "started_at", "last_seen", "receipts", "door")
HOLDER = f"SELECT {', '.join(COLUMNS)} FROM peers WHERE name = :name"
DROP_NAME = "DELETE FROM peers WHERE name = :name"
TAKE_NAME = f"INSERT INTO peers ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"
LEAVE = "DELETE FROM peers WHERE name = :name AND session_id = :session_id"
ALL_PEERS = f"SELECT {', '.join(COLUMNS)} FROM peers ORDER BY name"
PEERS_NAMED = f"SELECT {', '.join(COLUMNS)} FROM peers WHERE name IN (:names)"
# A stale row is reaped only as it was read: a heartbeat landing meanwhile keeps it.
REAP = "DELETE FROM peers WHERE name = :name AND session_id = :session_id AND last_seen = :last_seen"
OWN_ROW = f"SELECT {', '.join(COLUMNS)} FROM peers WHERE name = :name AND session_id = :session_id"
MOVE_NAME = "UPDATE peers SET name = :new, last_seen = :now WHERE name = :old"
MOVE_MAIL = (
    "UPDATE messages SET recipient = :new, claimed_by = NULL, claimed_at = NULL "
    "WHERE recipient = :old AND delivered_at IS NULL"
)


def peer_of(row: Sequence[Any]) -> Peer:
    """A Peer from a row of COLUMNS."""
    name, session_id, pid, host, adapter, can_push, started_at, last_seen, receipts, door = row
    return Peer(name, session_id, pid, host, adapter, bool(can_push), started_at, last_seen, bool(receipts), door)


def is_live(peer: Peer, now: float, stale_seconds: float, *, thorough: bool = False) -> bool:
    return row_is_live(peer.host, peer.pid, peer.last_seen, now, stale_seconds, thorough=thorough)


def row_is_live(host: str, pid: int, last_seen: float, now: float, stale_seconds: float, *, thorough: bool) -> bool:
    """The liveness rule (SPEC PRES-3): seen within the stale window and, on this host, running."""
    if last_seen < now - stale_seconds:
        return False
    return not (host == HOST and not pid_alive(pid, thorough=thorough))


def arriving(
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
    """The row a session registering as ``name`` writes now (InvalidName if the name breaks the rule)."""
    validate_name(name)
    now = time.time()
    return Peer(
        name, session_id, os.getpid() if pid is None else pid, host, adapter, can_push, now, now, receipts, door
    )


def take_name(tx: Tx, peer: Peer, stale_seconds: float) -> None:
    """Register ``peer`` in ``tx``; NameTaken if another live session holds the name.

    On PostgreSQL (READ COMMITTED) two first starts could both find the name free and the second
    INSERT hit the primary key; the name's lock (the one rename takes) serialises them.
    """
    tx.lock_mailbox(peer.name)
    holder = tx.first(HOLDER, {"name": peer.name})
    if holder is not None:
        held = dict(zip(COLUMNS, holder, strict=True))
        if held["session_id"] != peer.session_id and row_is_live(
            held["host"], held["pid"], held["last_seen"], time.time(), stale_seconds, thorough=True
        ):
            raise NameTaken(
                f"name taken: {peer.name!r} is held by a live session (pid {held['pid']} on {held['host']}); "
                "choose another name"
            )
        tx.run(DROP_NAME, {"name": peer.name})
    tx.run(TAKE_NAME, {c: getattr(peer, c) for c in COLUMNS})


def first_free(register: Callable[[str], Peer], preferred: str) -> Peer:
    """The naming policy for a starting session: ``preferred``, else ``preferred-2``, ``-3``..."""
    for n in range(1, MAX_NAME_SUFFIX + 1):
        try:
            return register(preferred if n == 1 else suffixed(preferred, n))
        except NameTaken:
            continue
    raise NameTaken(f"names {preferred!r} to {suffixed(preferred, MAX_NAME_SUFFIX)!r} are all taken")


def live_peers(tx: Tx, stale_seconds: float, now: float) -> list[Peer]:
    """Every live peer, by name; the stale rows are reaped in ``tx`` (their mail stays queued)."""
    everyone = [peer_of(row) for row in tx.rows(ALL_PEERS, {})]
    live = [peer for peer in everyone if is_live(peer, now, stale_seconds)]
    for peer in everyone:
        if not is_live(peer, now, stale_seconds):
            tx.run(REAP, {"name": peer.name, "session_id": peer.session_id, "last_seen": peer.last_seen})
    return live


def peers_named(tx: Tx, names: set[str], stale_seconds: float, now: float) -> list[Peer]:
    """The live peers among ``names`` (no reaping)."""
    named = [peer_of(row) for row in tx.rows(PEERS_NAMED, {"names": sorted(names)})]
    return [peer for peer in named if is_live(peer, now, stale_seconds)]


def reap(stale: Sequence[Peer]) -> "Callable[[Tx], None]":
    """Remove these stale rows, each only if unchanged since it was read."""

    def work(tx: Tx) -> None:
        for peer in stale:
            tx.run(REAP, {"name": peer.name, "session_id": peer.session_id, "last_seen": peer.last_seen})

    return work


def heartbeat(name: str, session_id: str, **changes: object) -> "Callable[[Tx], bool]":
    """Refresh last_seen and the given columns (can_push, receipts, door); the work returns False when
    the row is gone (reaped) and the session must register again."""
    columns = {"last_seen": None, **{column: value for column, value in changes.items() if value is not None}}
    unknown = set(columns) - set(COLUMNS)
    if unknown:
        raise ValueError(f"not a peers column: {', '.join(sorted(unknown))}")
    statement = (
        f"UPDATE peers SET {', '.join(f'{column} = :{column}' for column in columns)} "
        "WHERE name = :name AND session_id = :session_id"
    )

    def work(tx: Tx) -> bool:
        values = {**columns, "last_seen": time.time(), "name": name, "session_id": session_id}
        return tx.run(statement, values) == 1

    return work


def rename(old: str, new: str, session_id: str, stale_seconds: float) -> "Callable[[Tx], Peer]":
    """Move the session holding ``old`` (and its pending mail) to ``new``; NameTaken if a live peer holds it."""
    validate_name(new, what="new name")

    def work(tx: Tx) -> Peer:
        now = time.time()
        for mailbox in sorted({old, new}):
            tx.lock_mailbox(mailbox)
        me = tx.first(OWN_ROW, {"name": old, "session_id": session_id})
        if me is None:
            raise BusError(f"this session is not registered as {old!r}; it cannot be renamed")
        if new == old:
            return peer_of(me)
        holder = tx.first(HOLDER, {"name": new})
        if holder is not None:
            held = peer_of(holder)
            if is_live(held, now, stale_seconds, thorough=True):
                raise NameTaken(f"name taken: {new!r} is held by a live session (pid {held.pid}); choose another")
            tx.run(DROP_NAME, {"name": new})
        tx.run(MOVE_NAME, {"old": old, "new": new, "now": now})
        tx.run(MOVE_MAIL, {"old": old, "new": new})
        moved = tx.first(HOLDER, {"name": new})
        assert moved is not None
        return peer_of(moved)

    return work
