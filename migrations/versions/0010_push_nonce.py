"""Replay check in the database: `inbound_message.push_nonce`, unique, replacing the Redis nonce cache; the
unused received_at index goes (one B-tree less to update on the webhook's insert).

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
    """Add the nullable column and its unique index (older rows keep NULL); drop the received_at index."""
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("push_nonce", sa.String(length=96), nullable=True))
        batch_op.create_index("ix_inbound_message_push_nonce", ["push_nonce"], unique=True)
        batch_op.drop_index("ix_inbound_message_received_at")


def downgrade() -> None:
    """Drop the column and its index; restore the received_at index."""
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_message_received_at", ["received_at"], unique=False)
        batch_op.drop_index("ix_inbound_message_push_nonce")
        batch_op.drop_column("push_nonce")
