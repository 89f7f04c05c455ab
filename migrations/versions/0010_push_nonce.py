"""Replay check in the database: `inbound_message.push_nonce`, unique, replacing the Redis nonce cache.

Revision ID: 0010_push_nonce
Revises: 0009_inbound_relay
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_push_nonce"
down_revision: str | Sequence[str] | None = "0009_inbound_relay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable column and its unique index (rows stored before this revision keep NULL)."""
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("push_nonce", sa.String(length=96), nullable=True))
        batch_op.create_index("ix_inbound_message_push_nonce", ["push_nonce"], unique=True)


def downgrade() -> None:
    """Drop the index and the column."""
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_message_push_nonce")
        batch_op.drop_column("push_nonce")
