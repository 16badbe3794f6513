"""Taking and leaving a name: the peers-row writes, in plain SQL, for the driver or for SQLAlchemy.

One set of statements and one decision (who holds a name, when it may be taken over) for every
backend: a SQLite bus runs them on its driver connection (busfile.py, so a starting adapter
registers without importing SQLAlchemy, SPEC PRES-1), PostgreSQL through the bus's engine. The
named parameters (``:name``) suit both: sqlite3 takes them as they are, SQLAlchemy's ``text``
binds them for psycopg.
"""

import os
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from agentbus.core.errors import NameTaken
from agentbus.core.liveness import HOST, pid_alive
from agentbus.core.names import suffixed, validate_name
from agentbus.core.records import Peer

MAX_NAME_SUFFIX = 99
COLUMNS = ("name", "session_id", "pid", "host", "adapter", "can_push", "started_at", "last_seen", "receipts", "door")
HOLDER = f"SELECT {', '.join(COLUMNS)} FROM peers WHERE name = :name"
DROP_NAME = "DELETE FROM peers WHERE name = :name"
TAKE_NAME = f"INSERT INTO peers ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"
LEAVE = "DELETE FROM peers WHERE name = :name AND session_id = :session_id"


class Tx(Protocol):
    """One write transaction: run a statement, or fetch the first row of one (None when there is none)."""

    def run(self, sql: str, params: dict[str, Any]) -> None: ...

    def first(self, sql: str, params: dict[str, Any]) -> Sequence[Any] | None: ...


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
    """Register ``peer`` in ``tx``; NameTaken if another live session holds the name."""
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
