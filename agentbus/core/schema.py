"""The bus.db schema (SPEC.md section SCHEMA): tables shared by every core that uses the bus."""

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

peers = Table(
    "peers",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("session_id", String(64), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("adapter", String(64), nullable=False),
    Column("can_push", Boolean, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    # 0002: the peer proves what its model saw (receipts), so senders may wait for "seen".
    Column("receipts", Boolean, nullable=False, default=False, server_default=false()),
    # 0003: the door its messages reach its model through (native, channel, app-server, pull; SPEC DOOR-1).
    Column("door", String(32), nullable=True),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender", String(32), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("reply_to", Integer, nullable=True),
    Column("delivered_at", Float, nullable=True),
    Column("claimed_by", String(128), nullable=True),
    Column("claimed_at", Float, nullable=True),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    # 0002, the receipt ladder: written to the session, accepted (queued) by the client, in the model's context.
    Column("pushed_at", Float, nullable=True),
    Column("received_at", Float, nullable=True),
    Column("seen_at", Float, nullable=True),
    Index("ix_messages_pending", "recipient", "delivered_at", "id"),
    Index("ix_messages_sender_time", "sender", "created_at"),
    Index("ix_messages_reply_to", "reply_to"),
    sqlite_autoincrement=True,
)
