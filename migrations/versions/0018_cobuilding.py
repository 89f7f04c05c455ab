"""Co-building: 大党委 member units and their 兼职委员, the resource, needs and project lists, one-click orders
with their acceptance ladder.

Revision ID: 0018_cobuilding
Revises: 0017_volunteering
Create Date: 2026-12-07 07:49:39.834121
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_cobuilding"
down_revision: str | Sequence[str] | None = "0017_volunteering"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the co-building tables."""

    op.create_table(
        "cobuilding_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("contact_name", sa.String(length=50), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("member_from", sa.Date(), nullable=False),
        sa.Column("member_until", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('agency', 'state_owned', 'business', 'school', 'social_org', 'other')",
            name=op.f("ck_cobuilding_unit_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_cobuilding_unit_community_id_community")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cobuilding_unit")),
        sa.UniqueConstraint("code", name=op.f("uq_cobuilding_unit_code")),
    )
    with op.batch_alter_table("cobuilding_unit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cobuilding_unit_community_id"), ["community_id"], unique=False)

    op.create_table(
        "cobuilding_resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("unit_label", sa.String(length=10), nullable=False),
        sa.Column("available_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact_name", sa.String(length=50), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('activity', 'venue', 'service', 'expertise', 'funding', 'goods')",
            name=op.f("ck_cobuilding_resource_kind"),
        ),
        sa.CheckConstraint("available_until > available_from", name=op.f("ck_cobuilding_resource_window")),
        sa.CheckConstraint("capacity > 0", name=op.f("ck_cobuilding_resource_capacity_positive")),
        sa.CheckConstraint(
            "reserved >= 0 AND reserved <= capacity", name=op.f("ck_cobuilding_resource_reserved_within_capacity")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["cobuilding_unit.id"], name=op.f("fk_cobuilding_resource_unit_id_cobuilding_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cobuilding_resource")),
    )
    with op.batch_alter_table("cobuilding_resource", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cobuilding_resource_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "cobuilding_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("post", sa.String(length=50), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("serves_from", sa.Date(), nullable=False),
        sa.Column("serves_until", sa.Date(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_cobuilding_member_staff_id_staff")),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["cobuilding_unit.id"], name=op.f("fk_cobuilding_member_unit_id_cobuilding_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cobuilding_member")),
        sa.UniqueConstraint("staff_id", name=op.f("uq_cobuilding_member_staff_id")),
    )
    with op.batch_alter_table("cobuilding_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cobuilding_member_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "cobuilding_project",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("budget_yuan", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint(
            "status <> 'closed' OR result IS NOT NULL", name=op.f("ck_cobuilding_project_closed_with_result")
        ),
        sa.CheckConstraint("status IN ('active', 'closed')", name=op.f("ck_cobuilding_project_status")),
        sa.CheckConstraint("budget_yuan >= 0", name=op.f("ck_cobuilding_project_budget")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_cobuilding_project_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"], ["staff.id"], name=op.f("fk_cobuilding_project_created_by_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cobuilding_project")),
    )
    with op.batch_alter_table("cobuilding_project", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cobuilding_project_community_id"), ["community_id"], unique=False)

    op.create_table(
        "cobuilding_resource_community",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_cobuilding_resource_community_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["cobuilding_resource.id"],
            name=op.f("fk_cobuilding_resource_community_resource_id_cobuilding_resource"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cobuilding_resource_community")),
        sa.UniqueConstraint(
            "resource_id", "community_id", name=op.f("uq_cobuilding_resource_community_resource_id_community_id")
        ),
    )
    with op.batch_alter_table("cobuilding_resource_community", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cobuilding_resource_community_community_id"), ["community_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cobuilding_resource_community_resource_id"), ["resource_id"], unique=False)

    op.create_table(
        "cobuilding_project_update",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f("ck_cobuilding_project_update_progress")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["cobuilding_project.id"],
            name=op.f("fk_cobuilding_project_update_project_id_cobuilding_project"),
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_cobuilding_project_update_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cobuilding_project_update")),
    )
    with op.batch_alter_table("cobuilding_project_update", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cobuilding_project_update_project_id"), ["project_id"], unique=False)

    op.create_table(
        "cobuilding_need",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=True),
        sa.Column("deliberation_ref", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("beneficiaries", sa.Integer(), nullable=False),
        sa.Column("beneficiary_note", sa.String(length=200), nullable=False),
        sa.Column("wanted_by", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint("source <> 'appeal' OR appeal_id IS NOT NULL", name=op.f("ck_cobuilding_need_appeal_named")),
        sa.CheckConstraint("source IN ('staff', 'appeal', 'deliberation')", name=op.f("ck_cobuilding_need_source")),
        sa.CheckConstraint("status IN ('open', 'ordered', 'met', 'closed')", name=op.f("ck_cobuilding_need_status")),
        sa.CheckConstraint("beneficiaries >= 0", name=op.f("ck_cobuilding_need_beneficiaries")),
        sa.ForeignKeyConstraint(["appeal_id"], ["appeal.id"], name=op.f("fk_cobuilding_need_appeal_id_appeal")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_cobuilding_need_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"], ["staff.id"], name=op.f("fk_cobuilding_need_created_by_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_cobuilding_need_grid_id_grid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cobuilding_need")),
    )
    with op.batch_alter_table("cobuilding_need", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cobuilding_need_appeal_id"), ["appeal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cobuilding_need_community_id"), ["community_id"], unique=False)

    op.create_table(
        "cobuilding_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("requester_staff_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("beneficiaries", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accept_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.String(length=500), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unit_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requester_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("evaluation", sa.String(length=1000), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint(
            "status <> 'declined' OR decline_reason IS NOT NULL", name=op.f("ck_cobuilding_order_declined_with_reason")
        ),
        sa.CheckConstraint(
            "status IN ('placed', 'accepted', 'declined', 'scheduled', 'delivered', 'confirmed', 'evaluated', "
            "'cancelled')",
            name=op.f("ck_cobuilding_order_status"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cobuilding_order_quantity_positive")),
        sa.CheckConstraint("score IS NULL OR (score >= 1 AND score <= 5)", name=op.f("ck_cobuilding_order_score")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_cobuilding_order_community_id_community")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_cobuilding_order_grid_id_grid")),
        sa.ForeignKeyConstraint(
            ["need_id"], ["cobuilding_need.id"], name=op.f("fk_cobuilding_order_need_id_cobuilding_need")
        ),
        sa.ForeignKeyConstraint(
            ["requester_staff_id"], ["staff.id"], name=op.f("fk_cobuilding_order_requester_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["cobuilding_resource.id"],
            name=op.f("fk_cobuilding_order_resource_id_cobuilding_resource"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["cobuilding_unit.id"], name=op.f("fk_cobuilding_order_unit_id_cobuilding_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cobuilding_order")),
    )
    with op.batch_alter_table("cobuilding_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cobuilding_order_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cobuilding_order_need_id"), ["need_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cobuilding_order_requester_staff_id"), ["requester_staff_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cobuilding_order_resource_id"), ["resource_id"], unique=False)
        batch_op.create_index("ix_cobuilding_order_unit_status", ["unit_id", "status"], unique=False)

    op.create_table(
        "cobuilding_project_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=True),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["need_id"], ["cobuilding_need.id"], name=op.f("fk_cobuilding_project_link_need_id_cobuilding_need")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["cobuilding_project.id"],
            name=op.f("fk_cobuilding_project_link_project_id_cobuilding_project"),
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["cobuilding_resource.id"],
            name=op.f("fk_cobuilding_project_link_resource_id_cobuilding_resource"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["cobuilding_unit.id"], name=op.f("fk_cobuilding_project_link_unit_id_cobuilding_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cobuilding_project_link")),
        sa.UniqueConstraint(
            "project_id",
            "unit_id",
            "need_id",
            "resource_id",
            name=op.f("uq_cobuilding_project_link_project_id_unit_id_need_id_resource_id"),
        ),
    )
    with op.batch_alter_table("cobuilding_project_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cobuilding_project_link_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cobuilding_project_link_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "cobuilding_reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["cobuilding_order.id"], name=op.f("fk_cobuilding_reminder_order_id_cobuilding_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cobuilding_reminder")),
        sa.UniqueConstraint("order_id", "level", name=op.f("uq_cobuilding_reminder_order_id_level")),
    )
    with op.batch_alter_table("cobuilding_reminder", schema=None) as batch_op:
        batch_op.create_index("ix_cobuilding_reminder_due", ["sent_at", "cancelled_at", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_cobuilding_reminder_order_id"), ["order_id"], unique=False)


def downgrade() -> None:
    """Drop the co-building tables."""

    with op.batch_alter_table("cobuilding_reminder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cobuilding_reminder_order_id"))
        batch_op.drop_index("ix_cobuilding_reminder_due")

    op.drop_table("cobuilding_reminder")
    with op.batch_alter_table("cobuilding_project_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cobuilding_project_link_unit_id"))
        batch_op.drop_index(batch_op.f("ix_cobuilding_project_link_project_id"))

    op.drop_table("cobuilding_project_link")
    with op.batch_alter_table("cobuilding_order", schema=None) as batch_op:
        batch_op.drop_index("ix_cobuilding_order_unit_status")
        batch_op.drop_index(batch_op.f("ix_cobuilding_order_resource_id"))
        batch_op.drop_index(batch_op.f("ix_cobuilding_order_requester_staff_id"))
        batch_op.drop_index(batch_op.f("ix_cobuilding_order_need_id"))
        batch_op.drop_index(batch_op.f("ix_cobuilding_order_community_id"))

    op.drop_table("cobuilding_order")
    with op.batch_alter_table("cobuilding_need", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cobuilding_need_community_id"))
        batch_op.drop_index(batch_op.f("ix_cobuilding_need_appeal_id"))

    op.drop_table("cobuilding_need")
    with op.batch_alter_table("cobuilding_project_update", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cobuilding_project_update_project_id"))

    op.drop_table("cobuilding_project_update")
    with op.batch_alter_table("cobuilding_resource_community", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cobuilding_resource_community_resource_id"))
        batch_op.drop_index(batch_op.f("ix_cobuilding_resource_community_community_id"))

    op.drop_table("cobuilding_resource_community")
    with op.batch_alter_table("cobuilding_project", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cobuilding_project_community_id"))

    op.drop_table("cobuilding_project")
    with op.batch_alter_table("cobuilding_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cobuilding_member_unit_id"))

    op.drop_table("cobuilding_member")
    with op.batch_alter_table("cobuilding_resource", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cobuilding_resource_unit_id"))

    op.drop_table("cobuilding_resource")
    with op.batch_alter_table("cobuilding_unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cobuilding_unit_community_id"))

    op.drop_table("cobuilding_unit")
