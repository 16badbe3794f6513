"""The shared bus schema of SPEC section 11 as data, and the one-sentence verdict on a bus that differs."""

from conformance.busfile import BusReader

#: column -> (SQLite type affinity, NOT NULL, primary key position) per table (SCHEMA-3).
PEERS = {
    "name": ("TEXT", True, 1),
    "session_id": ("TEXT", True, 0),
    "pid": ("INTEGER", True, 0),
    "host": ("TEXT", True, 0),
    "adapter": ("TEXT", True, 0),
    "can_push": ("NUMERIC", True, 0),
    "started_at": ("REAL", True, 0),
    "last_seen": ("REAL", True, 0),
    "receipts": ("NUMERIC", True, 0),
    "door": ("TEXT", False, 0),
}
MESSAGES = {
    "id": ("INTEGER", False, 1),
    "sender": ("TEXT", True, 0),
    "recipient": ("TEXT", True, 0),
    "body": ("TEXT", True, 0),
    "created_at": ("REAL", True, 0),
    "reply_to": ("INTEGER", False, 0),
    "delivered_at": ("REAL", False, 0),
    "claimed_by": ("TEXT", False, 0),
    "claimed_at": ("REAL", False, 0),
    "attempts": ("INTEGER", True, 0),
    "pushed_at": ("REAL", False, 0),
    "received_at": ("REAL", False, 0),
    "seen_at": ("REAL", False, 0),
}
TABLES = {"peers": PEERS, "messages": MESSAGES}
INDEXES = {
    "ix_messages_pending": ["recipient", "delivered_at", "id"],
    "ix_messages_sender_time": ["sender", "created_at"],
    "ix_messages_reply_to": ["reply_to"],
}


def schema_problem(db: BusReader) -> str | None:
    """None when the bus has the shared tables and columns; else one sentence naming what is missing."""
    missing: list[str] = []
    for table, wanted in TABLES.items():
        found = db.columns(table)
        if not found:
            missing.append(f"no {table} table")
            continue
        absent = [name for name in wanted if name not in found]
        if absent:
            missing.append(f"{table} lacks {', '.join(absent)}")
    if not missing:
        return None
    return f"the adapter's bus does not have the shared schema of SPEC section 11 ({'; '.join(missing)})"
