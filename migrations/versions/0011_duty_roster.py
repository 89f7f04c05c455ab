"""The on-duty roster (值班表, `duty_shift`) and the triage deadline of an appeal waiting to be placed
(`appeal.triage_due_at`).

Revision ID: 0011_duty_roster
Revises: 0010_push_nonce
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_duty_roster"
down_revision: str | Sequence[str] | None = "0010_push_nonce"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create duty_shift with its window index; add the nullable appeal.triage_due_at."""
    op.create_table(
        "duty_shift",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shift", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_duty_shift_ends_after_start")),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_duty_shift_community_id_community")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_duty_shift_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_shift")),
        sa.UniqueConstraint(
            "community_id", "staff_id", "starts_at", name=op.f("uq_duty_shift_community_id_staff_id_starts_at")
        ),
    )
    op.create_index(op.f("ix_duty_shift_staff_id"), "duty_shift", ["staff_id"])
    op.create_index("ix_duty_shift_community_window", "duty_shift", ["community_id", "starts_at", "ends_at"])
    with op.batch_alter_table("appeal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("triage_due_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop the column and the table."""
    with op.batch_alter_table("appeal", schema=None) as batch_op:
        batch_op.drop_column("triage_due_at")
    op.drop_index("ix_duty_shift_community_window", table_name="duty_shift")
    op.drop_index(op.f("ix_duty_shift_staff_id"), table_name="duty_shift")
    op.drop_table("duty_shift")
