"""Inbound relay: `inbound_message.enqueued_at`, and one (status, enqueued_at) index for the relay's query.

Revision ID: 0009_inbound_relay
Revises: 0008_merge_heads
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0009_inbound_relay"
down_revision: str | Sequence[str] | None = "0008_merge_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column; queued rows already in RQ get a timestamp so the relay does not hand them over twice."""
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enqueued_at", models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_index("ix_inbound_message_status")
        batch_op.create_index("ix_inbound_message_status_enqueued", ["status", "enqueued_at"], unique=False)
    # Before this revision the webhook enqueued queued messages itself.
    op.execute("UPDATE inbound_message SET enqueued_at = received_at WHERE status = 'queued'")


def downgrade() -> None:
    """Drop the column and restore the status index."""
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_message_status_enqueued")
        batch_op.create_index("ix_inbound_message_status", ["status"], unique=False)
        batch_op.drop_column("enqueued_at")
