"""Broadcasts in chunks: an outbox row says when its job finished, so a sweep can resume a chunk RQ lost.

Revision ID: 0022_broadcast_chunks
Revises: 0025_support_thresholds
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_broadcast_chunks"
down_revision: str | Sequence[str] | None = "0025_support_thresholds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add pending_job.done_at and its index."""
    with op.batch_alter_table("pending_job") as batch:
        batch.add_column(sa.Column("done_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_pending_job_func_done_at", ["func", "done_at"], unique=False)


def downgrade() -> None:
    """Drop pending_job.done_at and its index."""
    with op.batch_alter_table("pending_job") as batch:
        batch.drop_index("ix_pending_job_func_done_at")
        batch.drop_column("done_at")
