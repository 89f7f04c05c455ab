"""Residents decide: micro-project proposals, ballots (who voted apart from what was chosen), funded projects
with a yearly budget cap, and deliberation councils with the 四议两公开 procedure.

Revision ID: 0019_participation
Revises: 0018_cobuilding
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_participation"
down_revision: str | Sequence[str] | None = "0018_cobuilding"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the proposal, ballot and council tables."""
    op.create_table(
        "community_budget",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("cap_yuan", sa.Integer(), nullable=False),
        sa.Column("committed_yuan", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint(
            "committed_yuan >= 0 AND committed_yuan <= cap_yuan", name=op.f("ck_community_budget_within_cap")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_community_budget_community_id_community")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_budget")),
        sa.UniqueConstraint("community_id", "year", name=op.f("uq_community_budget_community_id_year")),
    )
    op.create_table(
        "council",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("estate_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_council_community_id_community")),
        sa.ForeignKeyConstraint(["estate_id"], ["estate.id"], name=op.f("fk_council_estate_id_estate")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_council")),
        sa.UniqueConstraint("public_id", name=op.f("uq_council_public_id")),
    )
    with op.batch_alter_table("council", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_council_community_id"), ["community_id"], unique=False)

    op.create_table(
        "ballot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("estate_id", sa.Integer(), nullable=True),
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("max_choices", sa.Integer(), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("eligible_count", sa.Integer(), nullable=True),
        sa.Column("voter_count", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint("rule IN ('household', 'resident')", name=op.f("ck_ballot_rule_known")),
        sa.CheckConstraint("scope IN ('building', 'estate', 'community')", name=op.f("ck_ballot_scope_known")),
        sa.CheckConstraint("closes_at > opens_at", name=op.f("ck_ballot_window_order")),
        sa.CheckConstraint("max_choices >= 1", name=op.f("ck_ballot_max_choices_positive")),
        sa.ForeignKeyConstraint(["building_id"], ["building.id"], name=op.f("fk_ballot_building_id_building")),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_ballot_community_id_community")),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"], ["staff.id"], name=op.f("fk_ballot_created_by_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(["estate_id"], ["estate.id"], name=op.f("fk_ballot_estate_id_estate")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballot")),
        sa.UniqueConstraint("public_id", name=op.f("uq_ballot_public_id")),
    )
    with op.batch_alter_table("ballot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ballot_closes_at"), ["closes_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ballot_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ballot_opens_at"), ["opens_at"], unique=False)

    op.create_table(
        "council_meeting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("council_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(length=100), nullable=False),
        sa.Column("agenda", sa.JSON(), nullable=False),
        sa.Column("minutes", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(["council_id"], ["council.id"], name=op.f("fk_council_meeting_council_id_council")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_council_meeting")),
    )
    with op.batch_alter_table("council_meeting", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_council_meeting_council_id"), ["council_id"], unique=False)

    op.create_table(
        "ballot_voter",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("ballot_id", sa.Integer(), nullable=False),
        sa.Column("voter_key", sa.String(length=64), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["ballot_id"], ["ballot.id"], name=op.f("fk_ballot_voter_ballot_id_ballot")),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_ballot_voter_resident_id_resident")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballot_voter")),
        sa.UniqueConstraint("ballot_id", "voter_key", name=op.f("uq_ballot_voter_ballot_id_voter_key")),
    )
    op.create_table(
        "council_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("council_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("organisation", sa.String(length=100), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(["council_id"], ["council.id"], name=op.f("fk_council_member_council_id_council")),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_council_member_resident_id_resident")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_council_member_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_council_member")),
    )
    with op.batch_alter_table("council_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_council_member_council_id"), ["council_id"], unique=False)

    op.create_table(
        "proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("estate_id", sa.Integer(), nullable=True),
        sa.Column("building_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("rough_cost_yuan", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("proposer_resident_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("screening_reason", sa.String(length=500), nullable=True),
        sa.Column("screened_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("screened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint("scope IN ('building', 'estate', 'community')", name=op.f("ck_proposal_scope_known")),
        sa.CheckConstraint("rough_cost_yuan >= 0", name=op.f("ck_proposal_cost_non_negative")),
        sa.ForeignKeyConstraint(["building_id"], ["building.id"], name=op.f("fk_proposal_building_id_building")),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_proposal_community_id_community")),
        sa.ForeignKeyConstraint(["estate_id"], ["estate.id"], name=op.f("fk_proposal_estate_id_estate")),
        sa.ForeignKeyConstraint(["merged_into_id"], ["proposal.id"], name=op.f("fk_proposal_merged_into_id_proposal")),
        sa.ForeignKeyConstraint(
            ["proposer_resident_id"], ["resident.id"], name=op.f("fk_proposal_proposer_resident_id_resident")
        ),
        sa.ForeignKeyConstraint(
            ["screened_by_staff_id"], ["staff.id"], name=op.f("fk_proposal_screened_by_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal")),
        sa.UniqueConstraint("public_id", name=op.f("uq_proposal_public_id")),
    )
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposal_proposer_resident_id"), ["proposer_resident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposal_status"), ["status"], unique=False)

    op.create_table(
        "ballot_option",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ballot_id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["ballot_id"], ["ballot.id"], name=op.f("fk_ballot_option_ballot_id_ballot")),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposal.id"], name=op.f("fk_ballot_option_proposal_id_proposal")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballot_option")),
        sa.UniqueConstraint("ballot_id", "proposal_id", name=op.f("uq_ballot_option_ballot_id_proposal_id")),
    )
    with op.batch_alter_table("ballot_option", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ballot_option_ballot_id"), ["ballot_id"], unique=False)

    op.create_table(
        "council_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("council_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source_type", sa.String(length=16), nullable=False),
        sa.Column("appeal_id", sa.Integer(), nullable=True),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("major", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("created_proposal_id", sa.Integer(), nullable=True),
        sa.Column("created_notice_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.ForeignKeyConstraint(["appeal_id"], ["appeal.id"], name=op.f("fk_council_item_appeal_id_appeal")),
        sa.ForeignKeyConstraint(["council_id"], ["council.id"], name=op.f("fk_council_item_council_id_council")),
        sa.ForeignKeyConstraint(
            ["created_notice_id"], ["notice.id"], name=op.f("fk_council_item_created_notice_id_notice")
        ),
        sa.ForeignKeyConstraint(
            ["created_proposal_id"], ["proposal.id"], name=op.f("fk_council_item_created_proposal_id_proposal")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["council_meeting.id"], name=op.f("fk_council_item_meeting_id_council_meeting")
        ),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposal.id"], name=op.f("fk_council_item_proposal_id_proposal")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_council_item")),
        sa.UniqueConstraint("public_id", name=op.f("uq_council_item_public_id")),
    )
    with op.batch_alter_table("council_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_council_item_council_id"), ["council_id"], unique=False)

    op.create_table(
        "meeting_attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["council_meeting.id"], name=op.f("fk_meeting_attendance_meeting_id_council_meeting")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["council_member.id"], name=op.f("fk_meeting_attendance_member_id_council_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting_attendance")),
        sa.UniqueConstraint("meeting_id", "member_id", name=op.f("uq_meeting_attendance_meeting_id_member_id")),
    )
    with op.batch_alter_table("meeting_attendance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meeting_attendance_meeting_id"), ["meeting_id"], unique=False)

    op.create_table(
        "micro_project",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("budget_yuan", sa.Integer(), nullable=False),
        sa.Column("spent_yuan", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress_percent", sa.Integer(), nullable=False),
        sa.Column("funded_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=False
        ),
        sa.CheckConstraint("budget_yuan > 0", name=op.f("ck_micro_project_budget_positive")),
        sa.CheckConstraint(
            "progress_percent >= 0 AND progress_percent <= 100", name=op.f("ck_micro_project_progress_range")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_micro_project_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["funded_by_staff_id"], ["staff.id"], name=op.f("fk_micro_project_funded_by_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposal.id"], name=op.f("fk_micro_project_proposal_id_proposal")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_micro_project")),
        sa.UniqueConstraint("proposal_id", name=op.f("uq_micro_project_proposal_id")),
        sa.UniqueConstraint("public_id", name=op.f("uq_micro_project_public_id")),
    )
    with op.batch_alter_table("micro_project", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_micro_project_community_id"), ["community_id"], unique=False)

    op.create_table(
        "ballot_choice",
        sa.Column("ballot_id", sa.Integer(), nullable=False),
        sa.Column("paper", sa.String(length=32), nullable=False),
        sa.Column("option_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["ballot_id"], ["ballot.id"], name=op.f("fk_ballot_choice_ballot_id_ballot")),
        sa.ForeignKeyConstraint(
            ["option_id"], ["ballot_option.id"], name=op.f("fk_ballot_choice_option_id_ballot_option")
        ),
        sa.PrimaryKeyConstraint("ballot_id", "paper", "option_id", name=op.f("pk_ballot_choice")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ballot_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ballot_id", sa.Integer(), nullable=False),
        sa.Column("option_id", sa.Integer(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["ballot_id"], ["ballot.id"], name=op.f("fk_ballot_result_ballot_id_ballot")),
        sa.ForeignKeyConstraint(
            ["option_id"], ["ballot_option.id"], name=op.f("fk_ballot_result_option_id_ballot_option")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballot_result")),
        sa.UniqueConstraint("ballot_id", "option_id", name=op.f("uq_ballot_result_ballot_id_option_id")),
    )
    with op.batch_alter_table("ballot_result", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ballot_result_ballot_id"), ["ballot_id"], unique=False)

    op.create_table(
        "procedure_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["council_item.id"], name=op.f("fk_procedure_step_item_id_council_item")),
        sa.ForeignKeyConstraint(["notice_id"], ["notice.id"], name=op.f("fk_procedure_step_notice_id_notice")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_procedure_step_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedure_step")),
        sa.UniqueConstraint("item_id", "step", name=op.f("uq_procedure_step_item_id_step")),
    )
    with op.batch_alter_table("procedure_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_procedure_step_item_id"), ["item_id"], unique=False)

    op.create_table(
        "project_update",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("progress_percent", sa.Integer(), nullable=False),
        sa.Column("spent_yuan", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["micro_project.id"], name=op.f("fk_project_update_project_id_micro_project")
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_project_update_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_update")),
    )
    with op.batch_alter_table("project_update", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_update_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    """Drop them, dependants first."""
    with op.batch_alter_table("project_update", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_update_project_id"))

    op.drop_table("project_update")
    with op.batch_alter_table("procedure_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_procedure_step_item_id"))

    op.drop_table("procedure_step")
    with op.batch_alter_table("ballot_result", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ballot_result_ballot_id"))

    op.drop_table("ballot_result")
    op.drop_table("ballot_choice")
    with op.batch_alter_table("micro_project", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_micro_project_community_id"))

    op.drop_table("micro_project")
    with op.batch_alter_table("meeting_attendance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_attendance_meeting_id"))

    op.drop_table("meeting_attendance")
    with op.batch_alter_table("council_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_council_item_council_id"))

    op.drop_table("council_item")
    with op.batch_alter_table("ballot_option", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ballot_option_ballot_id"))

    op.drop_table("ballot_option")
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_status"))
        batch_op.drop_index(batch_op.f("ix_proposal_proposer_resident_id"))
        batch_op.drop_index(batch_op.f("ix_proposal_community_id"))

    op.drop_table("proposal")
    with op.batch_alter_table("council_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_council_member_council_id"))

    op.drop_table("council_member")
    op.drop_table("ballot_voter")
    with op.batch_alter_table("council_meeting", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_council_meeting_council_id"))

    op.drop_table("council_meeting")
    with op.batch_alter_table("ballot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ballot_opens_at"))
        batch_op.drop_index(batch_op.f("ix_ballot_community_id"))
        batch_op.drop_index(batch_op.f("ix_ballot_closes_at"))

    op.drop_table("ballot")
    with op.batch_alter_table("council", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_council_community_id"))

    op.drop_table("council")
    op.drop_table("community_budget")
