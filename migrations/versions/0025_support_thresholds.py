"""Support thresholds for proposals (N supports from residents of the scope within a period, one per resident),
and council items linked to co-building needs (an item raised from a need, a decision that creates one).

Revision ID: 0025_support_thresholds
Revises: 0021_building_qr
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_support_thresholds"
down_revision: str | Sequence[str] | None = "0021_building_qr"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create support_threshold and proposal_support; add the support columns and the need links."""
    op.create_table(
        "support_threshold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("supports_needed", sa.Integer(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint("supports_needed >= 0", name=op.f("ck_support_threshold_needed_non_negative")),
        sa.CheckConstraint("window_days >= 1 AND window_days <= 365", name=op.f("ck_support_threshold_window_range")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_support_threshold_community_id_community")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_threshold")),
        sa.UniqueConstraint("community_id", name=op.f("uq_support_threshold_community_id")),
    )
    op.create_table(
        "proposal_support",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposal.id"], name=op.f("fk_proposal_support_proposal_id_proposal")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_proposal_support_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_support")),
        sa.UniqueConstraint("proposal_id", "resident_id", name=op.f("uq_proposal_support_proposal_id_resident_id")),
    )
    with op.batch_alter_table("proposal_support", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_support_resident_id"), ["resident_id"], unique=False)

    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("supports_needed", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("support_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("supports_until", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("council_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("need_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("created_need_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_council_item_need_id_cobuilding_need"), "cobuilding_need", ["need_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_council_item_created_need_id_cobuilding_need"),
            "cobuilding_need",
            ["created_need_id"],
            ["id"],
        )


def downgrade() -> None:
    """Drop the need links, the support columns and tables."""
    with op.batch_alter_table("council_item", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_council_item_created_need_id_cobuilding_need"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_council_item_need_id_cobuilding_need"), type_="foreignkey")
        batch_op.drop_column("created_need_id")
        batch_op.drop_column("need_id")

    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_column("supports_until")
        batch_op.drop_column("support_count")
        batch_op.drop_column("supports_needed")

    with op.batch_alter_table("proposal_support", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_support_resident_id"))

    op.drop_table("proposal_support")
    op.drop_table("support_threshold")
