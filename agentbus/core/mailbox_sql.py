"""The mailbox's write statements (enqueue, claim, stamps, receipts, release, prune) in plain SQL.

Each runs inside a write transaction whose lock every writer of the bus waits for, so the time it
holds that lock is what twenty sessions queue behind: they run on the writer's driver connection
(sqlite3 or psycopg: no SQLAlchemy between the statement and the driver, a few microseconds each
instead of a few hundred). One text for both backends, like the name writes in presence.py. A list
parameter (``IN (:ids)``) is expanded by the driver (``expand_lists``). The rules they encode are SPEC
SCHEMA-4's: what is claimable, leases, the receipt ladder.
"""

import functools
import re
from collections.abc import Mapping
from typing import Any

ENVELOPE_COLUMNS = "id, sender, recipient, body, created_at, reply_to"

_PENDING = "recipient = :mailbox AND delivered_at IS NULL"
# What a drainer may push now: pending, not accepted by the client yet (received), and not pushed
# within the receipt grace (a push awaiting its receipt is not pushed again before that). pushed_at
# is the first push; claimed_at, renewed by every push, the latest. A message pushed max_pushes
# times without a receipt is not pushed again (it stays "pushed", and doctor says so): a wrong
# transcript path must not flood a model with copies.
CLAIMABLE = (
    f"{_PENDING} AND received_at IS NULL AND (pushed_at IS NULL OR "
    "(attempts < :max_pushes AND (claimed_at IS NULL OR claimed_at < :repush_before)))"
)
OTHER_LEASES = (
    f"SELECT DISTINCT claimed_by FROM messages WHERE {_PENDING} AND claimed_by IS NOT NULL "
    "AND claimed_by <> :claimer AND claimed_at > :expired_before"
)
CLAIM_OLDEST = (
    "UPDATE messages SET claimed_by = :claimer, claimed_at = :now, attempts = attempts + 1 "
    f"WHERE id IN (SELECT id FROM messages WHERE {CLAIMABLE} ORDER BY id LIMIT :limit) "
    f"RETURNING {ENVELOPE_COLUMNS}"
)
# A reply can land before this stamp (its recipient answered at once, or Codex showed the input before
# its answer reached us): the row is then already seen and delivered, and only the push is filled in,
# at the latest when the reply proved it seen (the push came first; the ladder stays in order).
# ``:pushed`` is NULL for mail handed over by pull (read_messages): delivered, never pushed.
STAMP_DELIVERED = (
    "UPDATE messages SET delivered_at = COALESCE(delivered_at, :now), "
    "pushed_at = COALESCE(pushed_at, CASE WHEN seen_at < :pushed THEN seen_at ELSE :pushed END), "
    "claimed_by = NULL, claimed_at = NULL "
    "WHERE id IN (:ids) AND (delivered_at IS NULL OR pushed_at IS NULL)"
)
# A push to a peer with receipts: written, but delivered only once seen. The lease stays (renewed),
# so no other drainer takes it while its receipt is awaited. As in STAMP_DELIVERED, a sighting or a
# reply stamped first (its time taken before the push resolved here) bounds the push: seen_at is
# never before pushed_at.
STAMP_PUSHED = (
    "UPDATE messages SET pushed_at = COALESCE(pushed_at, CASE WHEN seen_at < :at THEN seen_at ELSE :at END), "
    "claimed_at = CASE WHEN delivered_at IS NULL AND claimed_by = :claimer THEN :now ELSE claimed_at END "
    "WHERE id IN (:ids)"
)
# Receipts: the rows a sighting may stamp, then seen (delivered) or received.
SIGHTED = (
    "SELECT id, sender, created_at, received_at FROM messages "
    "WHERE id IN (:ids) AND recipient = :recipient AND delivered_at IS NULL"
)
STAMP_SEEN = (
    "UPDATE messages SET seen_at = :now, received_at = COALESCE(received_at, :now), delivered_at = :now, "
    "pushed_at = CASE WHEN pushed_at IS NULL OR pushed_at > :now THEN :now ELSE pushed_at END, "
    "claimed_by = NULL, claimed_at = NULL WHERE id IN (:ids)"
)
STAMP_RECEIVED = "UPDATE messages SET received_at = :now WHERE id IN (:ids)"

# PostgreSQL: a transaction-scoped advisory lock keyed by a name, taken by the claimers of its mailbox,
# by rename (both names) and by registration (SQLite needs none: BEGIN IMMEDIATE admits one writer).
LOCK_NAME_PG = "SELECT pg_advisory_xact_lock(727275, hashtext(:name))"

# Sending (Bus.send_many): the recipients' rows, the sender's rate budget, a reply's original, the rows.
PEER_COLUMNS = "name, session_id, pid, host, adapter, can_push, started_at, last_seen, receipts, door"
PEERS_NAMED = f"SELECT {PEER_COLUMNS} FROM peers WHERE name IN (:names)"
SENT_SINCE = "SELECT COUNT(*) FROM messages WHERE sender = :sent_by AND created_at > :since"
MAY_REPLY = "SELECT id FROM messages WHERE id = :reply_to AND (recipient = :sender OR sender = :sender)"
ENQUEUE = (
    "INSERT INTO messages (sender, recipient, body, created_at, reply_to, attempts) "
    "VALUES (:sender, :recipient, :body, :created_at, :reply_to, 0) RETURNING id"
)
RELEASE = (
    "UPDATE messages SET claimed_by = NULL, claimed_at = NULL "
    "WHERE id IN (:ids) AND claimed_by = :claimer AND delivered_at IS NULL"
)
PRUNE = "DELETE FROM messages WHERE delivered_at IS NOT NULL AND delivered_at < :before"
# A reply is proof that its sender's model saw the message it answers (RCPT-1).
ANSWER_PROVES_SEEN = (
    "UPDATE messages SET seen_at = :now, received_at = COALESCE(received_at, :now), "
    "delivered_at = COALESCE(delivered_at, :now), claimed_by = NULL, claimed_at = NULL "
    "WHERE id IN (:ids) AND recipient = :reader AND seen_at IS NULL"
)


_LIST_PARAMETER = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


def expand_lists(sql: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``IN (:ids)`` with a list becomes ``IN (:ids_0, :ids_1, ...)`` for a driver that binds scalars only."""
    lists = {name: value for name, value in params.items() if isinstance(value, list | tuple)}
    if not lists:
        return sql, dict(params)
    flat = {name: value for name, value in params.items() if name not in lists}
    for name, values in lists.items():
        flat.update({f"{name}_{i}": value for i, value in enumerate(values)})
    return _expanded(sql, tuple((name, len(values)) for name, values in lists.items())), flat


@functools.lru_cache(maxsize=256)
def _expanded(sql: str, lengths: tuple[tuple[str, int], ...]) -> str:
    """The statement with each list parameter spelled out (cached: a message's lists are mostly of one)."""
    sizes = dict(lengths)

    def placeholders(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in sizes:
            return match.group(0)
        return ", ".join(f":{name}_{i}" for i in range(sizes[name])) or "NULL"

    return _LIST_PARAMETER.sub(placeholders, sql)
