"""Staff bearer tokens expire: `staff_token.expires_at` (NOT NULL); tokens issued before get the default
lifetime counted from the upgrade, so nobody is locked out by deploying it.

Revision ID: 0013_staff_token_expiry
Revises: 0012_msgid_text
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0013_staff_token_expiry"
down_revision: str | Sequence[str] | None = "0012_msgid_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The default of HONGGUAN_STAFF_TOKEN_TTL when this revision was written (frozen here on purpose).
EXISTING_TOKEN_LIFETIME = timedelta(days=30)


def upgrade() -> None:
    """Add the column, give live tokens the default lifetime from now, then make it NOT NULL."""
    with op.batch_alter_table("staff_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=True))
    staff_token = sa.table("staff_token", sa.column("expires_at", models.base.UTCDateTime(timezone=True)))
    op.execute(
        staff_token.update()
        .where(staff_token.c.expires_at.is_(None))
        .values(expires_at=datetime.now(UTC) + EXISTING_TOKEN_LIFETIME)
    )
    with op.batch_alter_table("staff_token", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=models.base.UTCDateTime(timezone=True), nullable=False)


def downgrade() -> None:
    """Drop the column (tokens stop expiring)."""
    with op.batch_alter_table("staff_token", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
