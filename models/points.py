"""Volunteer points: task categories, submissions, append-only ledger, partner units, rewards, redemptions.

The ledger is single-entry per resident: every row is one resident's credit or debit with its source
(`source_type`, `source_id`). The counter-account of a double-entry book ("community: points issued",
"rewards: redeemed") is implied by `source_type`, so the issuing side is recoverable with a GROUP BY and no
second row per movement is needed; see services/points/ledger.py for the reasoning.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin, utcnow


class PartnerUnit(TimestampMixin, Base):
    """A partner unit (联盟单位): a shop or organisation that donates rewards and hands them over."""

    __tablename__ = "partner_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)


class PartnerMember(TimestampMixin, Base):
    """A person allowed to scan redemption QR codes for a partner unit (a resident or a staff member)."""

    __tablename__ = "partner_member"
    __table_args__ = (
        UniqueConstraint("partner_id", "resident_id"),
        UniqueConstraint("partner_id", "staff_id"),
        CheckConstraint("resident_id IS NOT NULL OR staff_id IS NOT NULL", name="who"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner_unit.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), default=None, index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None, index=True)
    active: Mapped[bool] = mapped_column(default=True)


class PointsAccount(Base):
    """A resident's cached balance: a projection of the ledger, updated in the same transaction."""

    __tablename__ = "points_account"
    # Backstop only: services debit with `UPDATE … WHERE balance >= :cost`, so this never fires in practice.
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_non_negative"),)

    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), primary_key=True)
    balance: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


LEDGER_KINDS = ("earn", "spend", "refund", "adjust")


class PointsLedger(Base):
    """One credit (delta > 0) or debit (delta < 0); append-only, unique idempotency key, with its source."""

    __tablename__ = "points_ledger"
    __table_args__ = (
        CheckConstraint("delta <> 0", name="delta_non_zero"),
        CheckConstraint("kind IN ('earn', 'spend', 'refund', 'adjust')", name="kind_known"),
        Index("ix_points_ledger_season", "period_key", "community_id", "grid_id"),
        Index("ix_points_ledger_source", "source_type", "source_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    delta: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    source_type: Mapped[str] = mapped_column(String(32))  # task_submission | event_signup | redemption | manual
    source_id: Mapped[int | None] = mapped_column(default=None)
    reason: Mapped[str] = mapped_column(String(200), default="")
    # Local (Asia/Shanghai) month of the movement, YYYY-MM: the ranking season.
    period_key: Mapped[str] = mapped_column(String(7))
    # Where the resident lived when the points were earned, so rankings do not move when they move house.
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), default=None)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Append-only at the database: UPDATE and DELETE on the ledger are refused by a trigger on both dialects,
# so even a hand-written statement cannot rewrite history (corrections are new `adjust` rows).
LEDGER_TRIGGERS_SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS points_ledger_no_update BEFORE UPDATE ON points_ledger "
    "BEGIN SELECT RAISE(ABORT, 'points_ledger is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS points_ledger_no_delete BEFORE DELETE ON points_ledger "
    "BEGIN SELECT RAISE(ABORT, 'points_ledger is append-only'); END",
)
LEDGER_TRIGGERS_POSTGRES = (
    "CREATE OR REPLACE FUNCTION points_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'points_ledger is append-only'; END $$",
    "CREATE TRIGGER points_ledger_append_only BEFORE UPDATE OR DELETE ON points_ledger "
    "FOR EACH ROW EXECUTE FUNCTION points_ledger_append_only()",
)
for _sql in LEDGER_TRIGGERS_SQLITE:
    event.listen(PointsLedger.__table__, "after_create", DDL(_sql).execute_if(dialect="sqlite"))
for _sql in LEDGER_TRIGGERS_POSTGRES:
    event.listen(PointsLedger.__table__, "after_create", DDL(_sql).execute_if(dialect="postgresql"))


CAP_PERIODS = ("day", "week", "month", "year")


class TaskCategory(TimestampMixin, Base):
    """A kind of volunteer work with its standard points and cap (editable data: 信息采集, 隐患排查 …)."""

    __tablename__ = "task_category"
    __table_args__ = (
        CheckConstraint("standard_points > 0", name="points_positive"),
        CheckConstraint("max_per_period > 0", name="cap_positive"),
        CheckConstraint("cap_period IN ('day', 'week', 'month', 'year')", name="cap_period_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    description: Mapped[str] = mapped_column(String(300), default="")
    standard_points: Mapped[int]
    # At most `max_per_period` approved submissions per resident per category per period.
    max_per_period: Mapped[int] = mapped_column(default=4)
    cap_period: Mapped[str] = mapped_column(String(8), default="month")
    # Submissions worth more than this need a second, community-level review before points are credited.
    second_review_above: Mapped[int] = mapped_column(default=50)
    active: Mapped[bool] = mapped_column(default=True)


SUBMISSION_STATUSES = ("pending", "awaiting_second_review", "approved", "rejected")


class TaskSubmission(TimestampMixin, Base):
    """A volunteer's report of work done, with evidence; points are credited only after review."""

    __tablename__ = "task_submission"
    __table_args__ = (
        # The per-period cap, enforced by the database: an approved submission takes one numbered slot
        # (1..max_per_period) of (resident, category, period); two approvals racing for a slot collide here.
        UniqueConstraint("resident_id", "category_id", "period_key", "cap_slot"),
        CheckConstraint("cap_slot IS NULL OR cap_slot >= 1", name="cap_slot_positive"),
        Index("ix_task_submission_queue", "grid_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("task_category.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), default=None)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None)
    text: Mapped[str] = mapped_column(Text)
    photos: Mapped[list[Any]] = mapped_column(JSON, default=list)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    occurred_at: Mapped[datetime]
    points: Mapped[int]  # the category's standard points at submission time
    status: Mapped[str] = mapped_column(String(24), default="pending", index=True)
    # Cap period of the work (e.g. 2026-11 for a monthly cap), from `occurred_at` in local time.
    period_key: Mapped[str] = mapped_column(String(10))
    cap_slot: Mapped[int | None] = mapped_column(default=None)
    first_reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    first_reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    second_reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    second_reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    review_note: Mapped[str] = mapped_column(String(300), default="")
    ledger_id: Mapped[int | None] = mapped_column(ForeignKey("points_ledger.id"), default=None)


class Reward(TimestampMixin, Base):
    """A reward in a partner unit's catalogue, with stock and a per-person limit."""

    __tablename__ = "reward"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        CheckConstraint("cost_points > 0", name="cost_positive"),
        CheckConstraint("per_person_limit IS NULL OR per_person_limit > 0", name="limit_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner_unit.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(300), default="")
    cost_points: Mapped[int]
    stock: Mapped[int] = mapped_column(default=0)
    per_person_limit: Mapped[int | None] = mapped_column(default=None)  # None: no limit
    pickup_days: Mapped[int] = mapped_column(default=7)  # the QR code expires after this many days
    active: Mapped[bool] = mapped_column(default=True)


REDEMPTION_STATUSES = ("reserved", "redeemed", "expired", "cancelled")


class Redemption(TimestampMixin, Base):
    """Points spent on a reward: reserved (QR issued) → redeemed, or expired/cancelled (refunded)."""

    __tablename__ = "redemption"
    __table_args__ = (
        UniqueConstraint("resident_id", "request_key"),
        # The per-person limit as numbered slots; a refund frees its slot (NULLs never collide).
        UniqueConstraint("reward_id", "resident_id", "limit_slot"),
        Index("ix_redemption_expiry", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("reward.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner_unit.id"), index=True)
    request_key: Mapped[str] = mapped_column(String(200))
    cost_points: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="reserved")
    limit_slot: Mapped[int | None] = mapped_column(default=None)
    qr_nonce: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    redeemed_at: Mapped[datetime | None] = mapped_column(default=None)
    redeemed_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("partner_member.id"), default=None)
    refunded_at: Mapped[datetime | None] = mapped_column(default=None)
