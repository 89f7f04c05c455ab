"""notify: subscribe-message grants per (openid, template)

Revision ID: 0002_notify
Revises: 0001_foundation
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0002_notify"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscribe_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("granted_total", sa.Integer(), nullable=False),
        sa.Column("used_total", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("remaining >= 0", name=op.f("ck_subscribe_grant_remaining_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribe_grant")),
        sa.UniqueConstraint("openid", "template_id", name=op.f("uq_subscribe_grant_openid_template_id")),
    )
    op.create_index(op.f("ix_subscribe_grant_openid"), "subscribe_grant", ["openid"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_subscribe_grant_openid"), table_name="subscribe_grant")
    op.drop_table("subscribe_grant")
