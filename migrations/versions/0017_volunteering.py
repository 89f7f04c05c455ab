"""Volunteering and the party: applications, skills, teams, posts and claims; call-ups, shifts, sign-ups and
recipients; party members, their households, pioneer logs, action branches, community tags and monthly awards.

Revision ID: 0017_volunteering
Revises: 0016_console
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0017_volunteering"
down_revision: str | Sequence[str] | None = "0016_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the volunteering, call-up and party tables."""
    op.create_table(
        "community_tag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("applies_to", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "applies_to IN ('party_member', 'household', 'post')", name=op.f("ck_community_tag_applies_to_known")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_community_tag_community_id_community")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_tag")),
        sa.UniqueConstraint("community_id", "name", name=op.f("uq_community_tag_community_id_name")),
    )
    op.create_table(
        "action_branch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("goal", sa.String(length=500), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("progress_note", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=500), nullable=False),
        sa.Column("closed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_action_branch_status_known")),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_action_branch_period_ordered")),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f("ck_action_branch_progress_percent")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_action_branch_community_id_community")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_action_branch_grid_id_grid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_branch")),
    )
    with op.batch_alter_table("action_branch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_branch_community_id"), ["community_id"], unique=False)

    op.create_table(
        "tag_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["community_tag.id"], name=op.f("fk_tag_assignment_tag_id_community_tag")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_assignment")),
        sa.UniqueConstraint("tag_id", "target_id", name=op.f("uq_tag_assignment_tag_id_target_id")),
    )
    with op.batch_alter_table("tag_assignment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tag_assignment_tag_id"), ["tag_id"], unique=False)

    op.create_table(
        "callup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("signup_opens_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("signup_closes_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("points_on_attendance", sa.Integer(), nullable=False),
        sa.Column("waitlist_capacity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("recipients_frozen_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('open', 'closed', 'cancelled')", name=op.f("ck_callup_status_known")),
        sa.CheckConstraint("points_on_attendance >= 0", name=op.f("ck_callup_points_non_negative")),
        sa.CheckConstraint("signup_closes_at > signup_opens_at", name=op.f("ck_callup_window_ordered")),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_callup_community_id_community")),
        sa.ForeignKeyConstraint(
            ["created_by_staff_id"], ["staff.id"], name=op.f("fk_callup_created_by_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callup")),
    )
    with op.batch_alter_table("callup", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callup_community_id"), ["community_id"], unique=False)

    op.create_table(
        "award_round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("period_key", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=True),
        sa.Column("published_by_staff_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('draft', 'published')", name=op.f("ck_award_round_status_known")),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_award_round_community_id_community")),
        sa.ForeignKeyConstraint(["notice_id"], ["notice.id"], name=op.f("fk_award_round_notice_id_notice")),
        sa.ForeignKeyConstraint(
            ["published_by_staff_id"], ["staff.id"], name=op.f("fk_award_round_published_by_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_award_round")),
        sa.UniqueConstraint("community_id", "period_key", name=op.f("uq_award_round_community_id_period_key")),
    )
    op.create_table(
        "callup_recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callup_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("queued_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["callup_id"], ["callup.id"], name=op.f("fk_callup_recipient_callup_id_callup")),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_callup_recipient_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callup_recipient")),
        sa.UniqueConstraint("callup_id", "resident_id", name=op.f("uq_callup_recipient_callup_id_resident_id")),
    )
    with op.batch_alter_table("callup_recipient", schema=None) as batch_op:
        batch_op.create_index("ix_callup_recipient_progress", ["callup_id", "queued_at", "id"], unique=False)

    op.create_table(
        "callup_shift",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callup_id", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("starts_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_callup_shift_times_ordered")),
        sa.CheckConstraint("quota > 0", name=op.f("ck_callup_shift_quota_positive")),
        sa.CheckConstraint("taken >= 0 AND taken <= quota", name=op.f("ck_callup_shift_taken_within_quota")),
        sa.ForeignKeyConstraint(["callup_id"], ["callup.id"], name=op.f("fk_callup_shift_callup_id_callup")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callup_shift")),
    )
    with op.batch_alter_table("callup_shift", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callup_shift_callup_id"), ["callup_id"], unique=False)

    op.create_table(
        "party_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=8), nullable=False),
        sa.Column("organisation", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verified_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("verified_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("category IN ('在职', '离退休', '流动')", name=op.f("ck_party_member_category_known")),
        sa.CheckConstraint("status IN ('pending', 'verified', 'rejected')", name=op.f("ck_party_member_status_known")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_party_member_community_id_community")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_party_member_grid_id_grid")),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_party_member_resident_id_resident")),
        sa.ForeignKeyConstraint(
            ["verified_by_staff_id"], ["staff.id"], name=op.f("fk_party_member_verified_by_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_member")),
        sa.UniqueConstraint("resident_id", name=op.f("uq_party_member_resident_id")),
    )
    with op.batch_alter_table("party_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_party_member_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_party_member_grid_id"), ["grid_id"], unique=False)

    op.create_table(
        "volunteer_skill",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("skill", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_volunteer_skill_resident_id_resident")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer_skill")),
        sa.UniqueConstraint("resident_id", "skill", name=op.f("uq_volunteer_skill_resident_id_skill")),
    )
    with op.batch_alter_table("volunteer_skill", schema=None) as batch_op:
        batch_op.create_index("ix_volunteer_skill_skill", ["skill"], unique=False)

    op.create_table(
        "volunteer_team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("leader_resident_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_volunteer_team_community_id_community")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_volunteer_team_grid_id_grid")),
        sa.ForeignKeyConstraint(
            ["leader_resident_id"], ["resident.id"], name=op.f("fk_volunteer_team_leader_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer_team")),
    )
    with op.batch_alter_table("volunteer_team", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_volunteer_team_community_id"), ["community_id"], unique=False)

    op.create_table(
        "action_branch_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["action_branch.id"], name=op.f("fk_action_branch_member_branch_id_action_branch")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["party_member.id"], name=op.f("fk_action_branch_member_member_id_party_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_branch_member")),
        sa.UniqueConstraint("branch_id", "member_id", name=op.f("uq_action_branch_member_branch_id_member_id")),
    )
    with op.batch_alter_table("action_branch_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_branch_member_branch_id"), ["branch_id"], unique=False)

    op.create_table(
        "award_candidate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("log_entries", sa.Integer(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_award_candidate_resident_id_resident")),
        sa.ForeignKeyConstraint(["round_id"], ["award_round.id"], name=op.f("fk_award_candidate_round_id_award_round")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_award_candidate")),
        sa.UniqueConstraint("round_id", "resident_id", name=op.f("uq_award_candidate_round_id_resident_id")),
    )
    with op.batch_alter_table("award_candidate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_award_candidate_round_id"), ["round_id"], unique=False)

    op.create_table(
        "party_household",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("room", sa.String(length=20), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["building_id"], ["building.id"], name=op.f("fk_party_household_building_id_building")),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_party_household_grid_id_grid")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["party_member.id"], name=op.f("fk_party_household_member_id_party_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_household")),
        sa.UniqueConstraint("building_id", "room", name=op.f("uq_party_household_building_id_room")),
    )
    with op.batch_alter_table("party_household", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_party_household_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_party_household_member_id"), ["member_id"], unique=False)

    op.create_table(
        "pioneer_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("occurred_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_key", sa.String(length=7), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reviewer_staff_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.String(length=300), nullable=False),
        sa.Column("ledger_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f("ck_pioneer_log_status_known")),
        sa.ForeignKeyConstraint(
            ["category_id"], ["task_category.id"], name=op.f("fk_pioneer_log_category_id_task_category")
        ),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_pioneer_log_community_id_community")),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_pioneer_log_grid_id_grid")),
        sa.ForeignKeyConstraint(
            ["ledger_id"], ["points_ledger.id"], name=op.f("fk_pioneer_log_ledger_id_points_ledger")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["party_member.id"], name=op.f("fk_pioneer_log_member_id_party_member")),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_pioneer_log_resident_id_resident")),
        sa.ForeignKeyConstraint(
            ["reviewer_staff_id"], ["staff.id"], name=op.f("fk_pioneer_log_reviewer_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pioneer_log")),
    )
    with op.batch_alter_table("pioneer_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pioneer_log_member_id"), ["member_id"], unique=False)
        batch_op.create_index("ix_pioneer_log_month", ["community_id", "period_key"], unique=False)
        batch_op.create_index("ix_pioneer_log_queue", ["grid_id", "status"], unique=False)

    op.create_table(
        "shift_signup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shift_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("queued_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("promoted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("checked_in_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("checked_in_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("qr_nonce", sa.String(length=64), nullable=False),
        sa.Column("ledger_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('confirmed', 'waitlisted', 'cancelled', 'attended', 'no_show')",
            name=op.f("ck_shift_signup_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["checked_in_by_staff_id"], ["staff.id"], name=op.f("fk_shift_signup_checked_in_by_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_id"], ["points_ledger.id"], name=op.f("fk_shift_signup_ledger_id_points_ledger")
        ),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_shift_signup_resident_id_resident")),
        sa.ForeignKeyConstraint(["shift_id"], ["callup_shift.id"], name=op.f("fk_shift_signup_shift_id_callup_shift")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shift_signup")),
        sa.UniqueConstraint("shift_id", "resident_id", name=op.f("uq_shift_signup_shift_id_resident_id")),
    )
    with op.batch_alter_table("shift_signup", schema=None) as batch_op:
        batch_op.create_index("ix_shift_signup_queue", ["shift_id", "status", "queued_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_shift_signup_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "team_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("role IN ('leader', 'member')", name=op.f("ck_team_member_role_known")),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_team_member_resident_id_resident")),
        sa.ForeignKeyConstraint(["team_id"], ["volunteer_team.id"], name=op.f("fk_team_member_team_id_volunteer_team")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_member")),
        sa.UniqueConstraint("team_id", "resident_id", name=op.f("uq_team_member_team_id_resident_id")),
    )
    with op.batch_alter_table("team_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_team_member_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "volunteer_application",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("availability", sa.String(length=200), nullable=False),
        sa.Column("preferred_team_id", sa.Integer(), nullable=True),
        sa.Column("service_area", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decline_reason", sa.String(length=300), nullable=False),
        sa.Column("reviewed_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'declined')", name=op.f("ck_volunteer_application_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_volunteer_application_community_id_community")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_volunteer_application_grid_id_grid")),
        sa.ForeignKeyConstraint(
            ["preferred_team_id"],
            ["volunteer_team.id"],
            name=op.f("fk_volunteer_application_preferred_team_id_volunteer_team"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_volunteer_application_resident_id_resident")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_staff_id"], ["staff.id"], name=op.f("fk_volunteer_application_reviewed_by_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer_application")),
    )
    with op.batch_alter_table("volunteer_application", schema=None) as batch_op:
        batch_op.create_index("ix_volunteer_application_queue", ["community_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_volunteer_application_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "volunteer_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("duties", sa.String(length=500), nullable=False),
        sa.Column("holders", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("holders > 0", name=op.f("ck_volunteer_post_holders_positive")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_volunteer_post_community_id_community")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_volunteer_post_grid_id_grid")),
        sa.ForeignKeyConstraint(
            ["team_id"], ["volunteer_team.id"], name=op.f("fk_volunteer_post_team_id_volunteer_team")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer_post")),
    )
    with op.batch_alter_table("volunteer_post", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_volunteer_post_community_id"), ["community_id"], unique=False)

    op.create_table(
        "post_claim",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("seat", sa.Integer(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("released_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_post_claim_period_ordered")),
        sa.CheckConstraint("seat IS NULL OR seat >= 1", name=op.f("ck_post_claim_seat_positive")),
        sa.ForeignKeyConstraint(["post_id"], ["volunteer_post.id"], name=op.f("fk_post_claim_post_id_volunteer_post")),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_post_claim_resident_id_resident")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_claim")),
        sa.UniqueConstraint("post_id", "seat", name=op.f("uq_post_claim_post_id_seat")),
    )
    with op.batch_alter_table("post_claim", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_claim_post_id"), ["post_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_post_claim_resident_id"), ["resident_id"], unique=False)


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("post_claim", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_claim_resident_id"))
        batch_op.drop_index(batch_op.f("ix_post_claim_post_id"))

    op.drop_table("post_claim")
    with op.batch_alter_table("volunteer_post", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volunteer_post_community_id"))

    op.drop_table("volunteer_post")
    with op.batch_alter_table("volunteer_application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volunteer_application_resident_id"))
        batch_op.drop_index("ix_volunteer_application_queue")

    op.drop_table("volunteer_application")
    with op.batch_alter_table("team_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_member_resident_id"))

    op.drop_table("team_member")
    with op.batch_alter_table("shift_signup", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shift_signup_resident_id"))
        batch_op.drop_index("ix_shift_signup_queue")

    op.drop_table("shift_signup")
    with op.batch_alter_table("pioneer_log", schema=None) as batch_op:
        batch_op.drop_index("ix_pioneer_log_queue")
        batch_op.drop_index("ix_pioneer_log_month")
        batch_op.drop_index(batch_op.f("ix_pioneer_log_member_id"))

    op.drop_table("pioneer_log")
    with op.batch_alter_table("party_household", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_party_household_member_id"))
        batch_op.drop_index(batch_op.f("ix_party_household_grid_id"))

    op.drop_table("party_household")
    with op.batch_alter_table("award_candidate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_award_candidate_round_id"))

    op.drop_table("award_candidate")
    with op.batch_alter_table("action_branch_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_branch_member_branch_id"))

    op.drop_table("action_branch_member")
    with op.batch_alter_table("volunteer_team", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volunteer_team_community_id"))

    op.drop_table("volunteer_team")
    with op.batch_alter_table("volunteer_skill", schema=None) as batch_op:
        batch_op.drop_index("ix_volunteer_skill_skill")

    op.drop_table("volunteer_skill")
    with op.batch_alter_table("party_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_party_member_grid_id"))
        batch_op.drop_index(batch_op.f("ix_party_member_community_id"))

    op.drop_table("party_member")
    with op.batch_alter_table("callup_shift", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callup_shift_callup_id"))

    op.drop_table("callup_shift")
    with op.batch_alter_table("callup_recipient", schema=None) as batch_op:
        batch_op.drop_index("ix_callup_recipient_progress")

    op.drop_table("callup_recipient")
    op.drop_table("award_round")
    with op.batch_alter_table("callup", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callup_community_id"))

    op.drop_table("callup")
    with op.batch_alter_table("tag_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tag_assignment_tag_id"))

    op.drop_table("tag_assignment")
    with op.batch_alter_table("action_branch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_branch_community_id"))

    op.drop_table("action_branch")
    op.drop_table("community_tag")
