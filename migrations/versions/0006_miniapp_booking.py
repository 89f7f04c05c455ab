"""mini-program sessions, idempotency, notices, venue booking; Staff.unionid / Staff.miniapp_openid

Revision ID: 0006_miniapp_booking
Revises: 0001_foundation
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0006_miniapp_booking"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("booking_ban", "no_show_strike", "booking_seat", "booking", "venue_closure", "venue_seat", "venue",
          "notice_read", "notice", "idempotency_record", "miniapp_session")  # fmt: skip

# PostgreSQL only: one resident cannot hold two overlapping active bookings of one venue (btree_gist).
EXCLUDE_RESIDENT_OVERLAP = (
    "ALTER TABLE booking ADD CONSTRAINT ex_booking_resident_overlap EXCLUDE USING gist "
    "(venue_id WITH =, resident_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
    "WHERE (status IN ('pending', 'confirmed', 'offered', 'checked_in'))"
)


def upgrade() -> None:
    op.create_table(
        "venue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("max_slots_per_booking", sa.Integer(), nullable=False),
        sa.Column("opening_hours", sa.JSON(), nullable=False),
        sa.Column("min_notice_minutes", sa.Integer(), nullable=False),
        sa.Column("max_advance_days", sa.Integer(), nullable=False),
        sa.Column("cancel_cutoff_minutes", sa.Integer(), nullable=False),
        sa.Column("quota_active", sa.Integer(), nullable=False),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("checkin_opens_minutes", sa.Integer(), nullable=False),
        sa.Column("no_show_after_minutes", sa.Integer(), nullable=False),
        sa.Column("closed_on_holidays", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
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
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_venue_capacity_positive")),
        sa.CheckConstraint("slot_minutes >= 5", name=op.f("ck_venue_slot_minutes_min")),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_venue_community_id_community")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue")),
    )
    with op.batch_alter_table("venue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_venue_community_id"), ["community_id"], unique=False)

    op.create_table(
        "venue_closure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_venue_closure_community_id_community")
        ),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"], name=op.f("fk_venue_closure_venue_id_venue")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_venue_closure")),
    )
    with op.batch_alter_table("venue_closure", schema=None) as batch_op:
        batch_op.create_index("ix_venue_closure_community_day", ["community_id", "day"], unique=False)

    op.create_table(
        "venue_seat",
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("seat_no", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"], name=op.f("fk_venue_seat_venue_id_venue")),
        sa.PrimaryKeyConstraint("venue_id", "seat_no", name=op.f("pk_venue_seat")),
    )
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("estate_id", sa.Integer(), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("author_staff_id", sa.Integer(), nullable=True),
        sa.Column("published_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_staff_id"], ["staff.id"], name=op.f("fk_notice_author_staff_id_staff")),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"], name=op.f("fk_notice_community_id_community")),
        sa.ForeignKeyConstraint(["estate_id"], ["estate.id"], name=op.f("fk_notice_estate_id_estate")),
        sa.ForeignKeyConstraint(["grid_id"], ["grid.id"], name=op.f("fk_notice_grid_id_grid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice")),
        sa.UniqueConstraint("public_id", name=op.f("uq_notice_public_id")),
    )
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.create_index("ix_notice_community_published", ["community_id", "published_at"], unique=False)

    op.create_table(
        "booking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("offer_expires_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("decision_note", sa.String(length=200), nullable=True),
        sa.Column("checkin_nonce", sa.String(length=32), nullable=False),
        sa.Column("checked_in_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("checked_in_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("released_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminder_queued_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminder_sent_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminder_result", sa.String(length=64), nullable=True),
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
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_booking_range_positive")),
        sa.ForeignKeyConstraint(
            ["checked_in_by_staff_id"], ["staff.id"], name=op.f("fk_booking_checked_in_by_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_staff_id"], ["staff.id"], name=op.f("fk_booking_decided_by_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_booking_resident_id_resident")),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"], name=op.f("fk_booking_venue_id_venue")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking")),
        sa.UniqueConstraint("public_id", name=op.f("uq_booking_public_id")),
    )
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.create_index("ix_booking_resident_status", ["resident_id", "status"], unique=False)
        batch_op.create_index("ix_booking_status_starts", ["status", "starts_at"], unique=False)
        batch_op.create_index("ix_booking_waitlist", ["venue_id", "starts_at", "status", "id"], unique=False)

    op.create_table(
        "idempotency_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_idempotency_record_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_record")),
        sa.UniqueConstraint("resident_id", "key", name=op.f("uq_idempotency_record_resident_id_key")),
    )
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_record_created_at"), ["created_at"], unique=False)

    op.create_table(
        "miniapp_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("session_key", sa.String(length=128), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_miniapp_session_resident_id_resident")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_miniapp_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_miniapp_session_token_hash")),
    )
    with op.batch_alter_table("miniapp_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_miniapp_session_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_miniapp_session_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "notice_read",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("read_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["notice_id"], ["notice.id"], name=op.f("fk_notice_read_notice_id_notice")),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_notice_read_resident_id_resident")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_read")),
        sa.UniqueConstraint("notice_id", "resident_id", name=op.f("uq_notice_read_notice_id_resident_id")),
    )
    with op.batch_alter_table("notice_read", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_read_notice_id"), ["notice_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_read_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "booking_seat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("slot_start", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seat_no", sa.Integer(), nullable=False),
        sa.CheckConstraint("seat_no >= 0", name=op.f("ck_booking_seat_seat_no_nonneg")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["booking.id"],
            name=op.f("fk_booking_seat_booking_id_booking"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_booking_seat_resident_id_resident")),
        sa.ForeignKeyConstraint(
            ["venue_id", "seat_no"],
            ["venue_seat.venue_id", "venue_seat.seat_no"],
            name="fk_booking_seat_venue_seat",
        ),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"], name=op.f("fk_booking_seat_venue_id_venue")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_seat")),
        sa.UniqueConstraint("venue_id", "slot_start", "resident_id", name="uq_booking_seat_slot_resident"),
        sa.UniqueConstraint("venue_id", "slot_start", "seat_no", name="uq_booking_seat_slot_seat"),
    )
    with op.batch_alter_table("booking_seat", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_booking_seat_booking_id"), ["booking_id"], unique=False)

    op.create_table(
        "no_show_strike",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["booking.id"], name=op.f("fk_no_show_strike_booking_id_booking")),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_no_show_strike_resident_id_resident")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_no_show_strike")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_no_show_strike_booking_id")),
    )
    with op.batch_alter_table("no_show_strike", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_no_show_strike_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "booking_ban",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("strike_id", sa.Integer(), nullable=True),
        sa.Column("lifted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lifted_by_staff_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lifted_by_staff_id"], ["staff.id"], name=op.f("fk_booking_ban_lifted_by_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_booking_ban_resident_id_resident")),
        sa.ForeignKeyConstraint(
            ["strike_id"], ["no_show_strike.id"], name=op.f("fk_booking_ban_strike_id_no_show_strike")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_ban")),
        sa.UniqueConstraint("strike_id", name=op.f("uq_booking_ban_strike_id")),
    )
    with op.batch_alter_table("booking_ban", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_booking_ban_resident_id"), ["resident_id"], unique=False)

    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unionid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("miniapp_openid", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_staff_miniapp_openid"), ["miniapp_openid"])
        batch_op.create_unique_constraint(batch_op.f("uq_staff_unionid"), ["unionid"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(EXCLUDE_RESIDENT_OVERLAP)


def downgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_staff_unionid"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_staff_miniapp_openid"), type_="unique")
        batch_op.drop_column("miniapp_openid")
        batch_op.drop_column("unionid")
    for table in TABLES:
        op.drop_table(table)
