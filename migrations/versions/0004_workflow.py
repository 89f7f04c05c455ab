"""workflow: working calendar (holidays, 调休), SLA policies, reminder ladder rows, staff tokens

Revision ID: 0004_workflow
Revises: 0001_foundation
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0004_workflow"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _dt(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, models.base.UTCDateTime(timezone=True), nullable=nullable)


# The 2026 official holiday/调休 calendar as published by the State Council (day, is a working day, name).
HOLIDAYS_2026 = (
    ("2026-01-01", False, "元旦"),
    ("2026-01-02", False, "元旦"),
    ("2026-01-03", False, "元旦"),
    ("2026-01-04", True, "元旦调休上班"),
    ("2026-02-15", False, "春节"),
    ("2026-02-16", False, "春节"),
    ("2026-02-17", False, "春节"),
    ("2026-02-18", False, "春节"),
    ("2026-02-19", False, "春节"),
    ("2026-02-20", False, "春节"),
    ("2026-02-21", False, "春节"),
    ("2026-02-22", False, "春节"),
    ("2026-02-23", False, "春节"),
    ("2026-02-14", True, "春节调休上班"),
    ("2026-02-28", True, "春节调休上班"),
    ("2026-04-04", False, "清明节"),
    ("2026-04-05", False, "清明节"),
    ("2026-04-06", False, "清明节"),
    ("2026-05-01", False, "劳动节"),
    ("2026-05-02", False, "劳动节"),
    ("2026-05-03", False, "劳动节"),
    ("2026-05-04", False, "劳动节"),
    ("2026-05-05", False, "劳动节"),
    ("2026-05-09", True, "劳动节调休上班"),
    ("2026-06-19", False, "端午节"),
    ("2026-06-20", False, "端午节"),
    ("2026-06-21", False, "端午节"),
    ("2026-09-25", False, "中秋节"),
    ("2026-09-26", False, "中秋节"),
    ("2026-09-27", False, "中秋节"),
    ("2026-10-01", False, "国庆节"),
    ("2026-10-02", False, "国庆节"),
    ("2026-10-03", False, "国庆节"),
    ("2026-10-04", False, "国庆节"),
    ("2026-10-05", False, "国庆节"),
    ("2026-10-06", False, "国庆节"),
    ("2026-10-07", False, "国庆节"),
    ("2026-09-20", True, "国庆节调休上班"),
    ("2026-10-10", True, "国庆节调休上班"),
)
# The default SLA policies: (category or None for all, urgent, tier, accept minutes, resolve minutes); a working
# day is 480 minutes.
DEFAULT_POLICIES = (
    (None, True, "urgent", 30, 120),
    (None, False, "general", 120, 1440),
    ("municipal", False, "complex", 120, 7200),
    ("social_welfare", False, "complex", 120, 7200),
)


def upgrade() -> None:
    calendar_day = op.create_table(
        "calendar_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_workday", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_day")),
        sa.UniqueConstraint("day", name=op.f("uq_calendar_day_day")),
    )
    sla_policy = op.create_table(
        "sla_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("accept_minutes", sa.Integer(), nullable=False),
        sa.Column("resolve_minutes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policy")),
        sa.UniqueConstraint("category", "urgent", name=op.f("uq_sla_policy_category_urgent")),
    )
    op.create_table(
        "appeal_reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        _dt("due_at", nullable=False),
        _dt("created_at", nullable=False),
        _dt("enqueued_at"),
        _dt("sent_at"),
        _dt("cancelled_at"),
        sa.Column("cancel_reason", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["appeal_id"], ["appeal.id"], name=op.f("fk_appeal_reminder_appeal_id_appeal")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_reminder")),
        sa.UniqueConstraint("appeal_id", "round", "level", name=op.f("uq_appeal_reminder_appeal_id_round_level")),
    )
    op.create_index(op.f("ix_appeal_reminder_appeal_id"), "appeal_reminder", ["appeal_id"])
    op.create_index("ix_appeal_reminder_due", "appeal_reminder", ["sent_at", "cancelled_at", "due_at"])
    op.create_table(
        "staff_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _dt("created_at", nullable=False),
        _dt("last_used_at"),
        _dt("revoked_at"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_staff_token_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_token_token_hash")),
    )
    op.create_index(op.f("ix_staff_token_staff_id"), "staff_token", ["staff_id"])

    # Data: the 2026 calendar and the default SLA policies as they were at this revision (editable afterwards;
    # frozen here so that later changes to the application's seeds do not rewrite history).
    op.bulk_insert(
        calendar_day, [{"day": date.fromisoformat(d), "is_workday": w, "name": n} for d, w, n in HOLIDAYS_2026]
    )
    op.bulk_insert(
        sla_policy,
        [
            {"category": c, "urgent": u, "tier": t, "accept_minutes": a, "resolve_minutes": r}
            for c, u, t, a, r in DEFAULT_POLICIES
        ],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_token_staff_id"), table_name="staff_token")
    op.drop_table("staff_token")
    op.drop_index("ix_appeal_reminder_due", table_name="appeal_reminder")
    op.drop_index(op.f("ix_appeal_reminder_appeal_id"), table_name="appeal_reminder")
    op.drop_table("appeal_reminder")
    op.drop_table("sla_policy")
    op.drop_table("calendar_day")
