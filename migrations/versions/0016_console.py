"""Staff console pages: server-side browser sessions, one-time sign-in grants (link or QR scene), the audit log.

Revision ID: 0016_console
Revises: 0015_appeal_community
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_console"
down_revision: str | Sequence[str] | None = "0015_appeal_community"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _dt(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create console_session, console_sign_in and audit_entry."""
    op.create_table(
        "console_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _dt("created_at", nullable=False),
        _dt("last_seen_at", nullable=False),
        _dt("idle_expires_at", nullable=False),
        _dt("expires_at", nullable=False),
        _dt("revoked_at"),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_console_session_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_session_token_hash")),
    )
    op.create_index(op.f("ix_console_session_staff_id"), "console_session", ["staff_id"])
    op.create_table(
        "console_sign_in",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scene", sa.String(length=64), nullable=True),
        sa.Column("ticket", sa.String(length=200), nullable=True),
        sa.Column("qr_url", sa.String(length=200), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        _dt("created_at", nullable=False),
        _dt("expires_at", nullable=False),
        _dt("approved_at"),
        _dt("used_at"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_console_sign_in_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sign_in")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_console_sign_in_secret_hash")),
        sa.UniqueConstraint("scene", name=op.f("uq_console_sign_in_scene")),
    )
    op.create_index(op.f("ix_console_sign_in_staff_id"), "console_sign_in", ["staff_id"])
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        _dt("at", nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_audit_entry_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    op.create_index(op.f("ix_audit_entry_staff_id"), "audit_entry", ["staff_id"])
    op.create_index(op.f("ix_audit_entry_at"), "audit_entry", ["at"])


def downgrade() -> None:
    """Drop the console tables."""
    op.drop_table("audit_entry")
    op.drop_table("console_sign_in")
    op.drop_table("console_session")
