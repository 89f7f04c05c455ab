"""reports: weekly report files and the property companies' red/black list snapshots, entries and changes

Revision ID: 0005_reports
Revises: 0001_foundation
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0005_reports"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _dt(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, models.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("period_key", sa.String(length=16), nullable=False),
        _dt("period_start"),
        _dt("period_end"),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("appeal_count", sa.Integer(), nullable=False),
        sa.Column("notified_staff", sa.Integer(), nullable=False),
        _dt("created_at"),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_report_community_id_community")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report")),
        sa.UniqueConstraint("kind", "community_id", "period_key", name=op.f("uq_report_kind_community_id_period_key")),
    )
    op.create_index(op.f("ix_report_community_id"), "report", ["community_id"], unique=False)

    op.create_table(
        "ranking_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("period_key", sa.String(length=16), nullable=False),
        _dt("window_start"),
        _dt("window_end"),
        sa.Column("prior_mean", sa.Double(), nullable=False),
        sa.Column("prior_weight", sa.Double(), nullable=False),
        sa.Column("min_ratings", sa.Integer(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        _dt("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_snapshot")),
        sa.UniqueConstraint("kind", "period_key", name=op.f("uq_ranking_snapshot_kind_period_key")),
    )

    op.create_table(
        "ranking_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("property_company_id", sa.Integer(), nullable=False),
        sa.Column("rated", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Integer(), nullable=False),
        sa.Column("raw_rate", sa.Double(), nullable=True),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("list", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["property_company_id"],
            ["property_company.id"],
            name=op.f("fk_ranking_entry_property_company_id_property_company"),
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["ranking_snapshot.id"],
            name=op.f("fk_ranking_entry_snapshot_id_ranking_snapshot"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_entry")),
        sa.UniqueConstraint(
            "snapshot_id",
            "property_company_id",
            name=op.f("uq_ranking_entry_snapshot_id_property_company_id"),
        ),
    )
    op.create_index(op.f("ix_ranking_entry_property_company_id"), "ranking_entry", ["property_company_id"])
    op.create_index(op.f("ix_ranking_entry_snapshot_id"), "ranking_entry", ["snapshot_id"])

    op.create_table(
        "ranking_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("previous_snapshot_id", sa.Integer(), nullable=True),
        sa.Column("property_company_id", sa.Integer(), nullable=False),
        sa.Column("from_rank", sa.Integer(), nullable=True),
        sa.Column("to_rank", sa.Integer(), nullable=True),
        sa.Column("from_list", sa.String(length=16), nullable=True),
        sa.Column("to_list", sa.String(length=16), nullable=False),
        _dt("created_at"),
        sa.ForeignKeyConstraint(
            ["previous_snapshot_id"],
            ["ranking_snapshot.id"],
            name=op.f("fk_ranking_change_previous_snapshot_id_ranking_snapshot"),
        ),
        sa.ForeignKeyConstraint(
            ["property_company_id"],
            ["property_company.id"],
            name=op.f("fk_ranking_change_property_company_id_property_company"),
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["ranking_snapshot.id"],
            name=op.f("fk_ranking_change_snapshot_id_ranking_snapshot"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_change")),
    )
    op.create_index("ix_ranking_change_company", "ranking_change", ["property_company_id", "snapshot_id"])
    op.create_index(op.f("ix_ranking_change_snapshot_id"), "ranking_change", ["snapshot_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ranking_change_snapshot_id"), table_name="ranking_change")
    op.drop_index("ix_ranking_change_company", table_name="ranking_change")
    op.drop_table("ranking_change")
    op.drop_index(op.f("ix_ranking_entry_snapshot_id"), table_name="ranking_entry")
    op.drop_index(op.f("ix_ranking_entry_property_company_id"), table_name="ranking_entry")
    op.drop_table("ranking_entry")
    op.drop_table("ranking_snapshot")
    op.drop_index(op.f("ix_report_community_id"), table_name="report")
    op.drop_table("report")
