"""Schema version 0002: receipts (SPEC section 6b): when a message was pushed, received and seen.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (no table copy): nullable, or NOT NULL with a constant default.
    op.add_column("messages", sa.Column("pushed_at", sa.Float, nullable=True))
    op.add_column("messages", sa.Column("received_at", sa.Float, nullable=True))
    op.add_column("messages", sa.Column("seen_at", sa.Float, nullable=True))
    op.add_column("peers", sa.Column("receipts", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_messages_reply_to", "messages", ["reply_to"])


def downgrade() -> None:
    op.drop_index("ix_messages_reply_to", "messages")
    with op.batch_alter_table("peers") as table:
        table.drop_column("receipts")
    with op.batch_alter_table("messages") as table:
        table.drop_column("seen_at")
        table.drop_column("received_at")
        table.drop_column("pushed_at")
