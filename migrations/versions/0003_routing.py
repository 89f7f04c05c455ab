"""routing: routing rules, consultation answers, duplicate policy, labelled examples, pending follow-ups

Revision ID: 0003_routing
Revises: 0001_foundation
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0003_routing"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
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
    ]


def upgrade() -> None:
    op.create_table(
        "duplicate_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("radius_m", sa.Double(), nullable=False),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_policy")),
        sa.UniqueConstraint("category", name=op.f("uq_duplicate_policy_category")),
    )
    op.create_table(
        "consult_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("topic", sa.String(length=50), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_consult_answer_community_id_community")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consult_answer")),
    )
    op.create_table(
        "routing_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("estate_id", sa.Integer(), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("handler_type", sa.String(length=20), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("property_company_id", sa.Integer(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "handler_type != 'department' OR department_id IS NOT NULL",
            name=op.f("ck_routing_rule_department_set"),
        ),
        sa.CheckConstraint(
            "handler_type IN ('grid', 'department', 'property_company')",
            name=op.f("ck_routing_rule_handler_type"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_routing_rule_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["department.id"], name=op.f("fk_routing_rule_department_id_department")
        ),
        sa.ForeignKeyConstraint(["estate_id"], ["estate.id"], name=op.f("fk_routing_rule_estate_id_estate")),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_routing_rule_grid_id_grid")),
        sa.ForeignKeyConstraint(
            ["property_company_id"],
            ["property_company.id"],
            name=op.f("fk_routing_rule_property_company_id_property_company"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_rule")),
    )
    op.create_index("ix_routing_rule_category_active", "routing_rule", ["category", "active"], unique=False)
    op.create_table(
        "pending_follow_up",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("inbound_message_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbound_message_id"],
            ["inbound_message.id"],
            name=op.f("fk_pending_follow_up_inbound_message_id_inbound_message"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_pending_follow_up_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_follow_up")),
    )
    op.create_index(op.f("ix_pending_follow_up_resident_id"), "pending_follow_up", ["resident_id"], unique=False)
    op.create_table(
        "labelled_example",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["appeal_id"], ["appeal.id"], name=op.f("fk_labelled_example_appeal_id_appeal")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_labelled_example_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labelled_example")),
    )
    op.create_index(op.f("ix_labelled_example_appeal_id"), "labelled_example", ["appeal_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_labelled_example_appeal_id"), table_name="labelled_example")
    op.drop_table("labelled_example")
    op.drop_index(op.f("ix_pending_follow_up_resident_id"), table_name="pending_follow_up")
    op.drop_table("pending_follow_up")
    op.drop_index("ix_routing_rule_category_active", table_name="routing_rule")
    op.drop_table("routing_rule")
    op.drop_table("consult_answer")
    op.drop_table("duplicate_policy")
