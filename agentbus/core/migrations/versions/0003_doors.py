"""Schema version 0003: doors (SPEC section 8): which door a peer's messages reach its model through.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table copy): NULL is a peer of an older core, or one still connecting.
    op.add_column("peers", sa.Column("door", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("peers") as table:
        table.drop_column("door")
