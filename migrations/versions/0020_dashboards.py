"""The dashboards' KPI summary: one row per appeal and dispatch segment, and how far it has read the event log.

Revision ID: 0020_dashboards
Revises: 0022_broadcast_chunks
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_dashboards"
down_revision: str | Sequence[str] | None = "0022_broadcast_chunks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "appeals", "consultations", "dispatched", "accepted_on_time", "closed", "closed_resolved", "resolved",
    "resolved_on_time", "rated", "satisfied", "resolve_samples",
)  # fmt: skip


def upgrade() -> None:
    """Create kpi_fact (filled by the first dashboard request) and kpi_fact_refresh."""
    op.create_table(
        "kpi_fact",
        sa.Column("appeal_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seg", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("is_last", sa.SmallInteger(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("created_s", sa.Float(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("property_company_id", sa.Integer(), nullable=True),
        sa.Column("closed_s", sa.Float(), nullable=True),
        sa.Column("overdue_s", sa.Float(), nullable=True),
        *(sa.Column(name, sa.SmallInteger(), nullable=False) for name in COUNTS),
        sa.Column("hours_to_resolve", sa.Float(), nullable=True),
        sa.Column("returns", sa.SmallInteger(), nullable=False),
        sa.Column("reopens", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("appeal_id", "seg", name=op.f("pk_kpi_fact")),
    )
    op.create_index(op.f("ix_kpi_fact_closed_s"), "kpi_fact", ["closed_s"], unique=False)
    op.create_index(op.f("ix_kpi_fact_community_id_created_s"), "kpi_fact", ["community_id", "created_s"], unique=False)
    op.create_index(op.f("ix_kpi_fact_created_s"), "kpi_fact", ["created_s"], unique=False)
    op.create_index(op.f("ix_kpi_fact_overdue_s"), "kpi_fact", ["overdue_s"], unique=False)
    op.create_table(
        "kpi_fact_refresh",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_kpi_fact_refresh")),
    )


def downgrade() -> None:
    """Drop the summary tables."""
    op.drop_table("kpi_fact_refresh")
    op.drop_index(op.f("ix_kpi_fact_overdue_s"), table_name="kpi_fact")
    op.drop_index(op.f("ix_kpi_fact_created_s"), table_name="kpi_fact")
    op.drop_index(op.f("ix_kpi_fact_community_id_created_s"), table_name="kpi_fact")
    op.drop_index(op.f("ix_kpi_fact_closed_s"), table_name="kpi_fact")
    op.drop_table("kpi_fact")
