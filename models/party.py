"""Party members: 党员报到, 党员联户 households, 先锋日志, 行动支部 action branches, and community tags as data."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin

PARTY_CATEGORIES = ("在职", "离退休", "流动")


class PartyMember(TimestampMixin, Base):
    """A party member registered with their residence community; call-ups reach verified members."""

    __tablename__ = "party_member"
    __table_args__ = (
        CheckConstraint("category IN ('在职', '离退休', '流动')", name="category_known"),
        CheckConstraint("status IN ('pending', 'verified', 'rejected')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None, index=True)
    category: Mapped[str] = mapped_column(String(8))
    # The member's own party organisation (personal data: masked in public views and logs).
    organisation: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    verified_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)


class PartyHousehold(TimestampMixin, Base):
    """党员联户: a household (building + room) a verified party member looks after; one member per household."""

    __tablename__ = "party_household"
    __table_args__ = (UniqueConstraint("building_id", "room"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("party_member.id"), index=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id"))
    room: Mapped[str] = mapped_column(String(20))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)


LOG_STATUSES = ("pending", "approved", "rejected")


class PioneerLog(TimestampMixin, Base):
    """先锋日志: what a party member did, with evidence; reviewed by grid staff, approved entries earn points."""

    __tablename__ = "pioneer_log"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status_known"),
        Index("ix_pioneer_log_queue", "grid_id", "status"),
        Index("ix_pioneer_log_month", "community_id", "period_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("party_member.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None)
    category_id: Mapped[int] = mapped_column(ForeignKey("task_category.id"))
    text: Mapped[str] = mapped_column(Text)
    photos: Mapped[list[Any]] = mapped_column(JSON, default=list)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    occurred_at: Mapped[datetime]
    period_key: Mapped[str] = mapped_column(String(7))  # local month of the work, YYYY-MM
    points: Mapped[int]  # the category's standard points when logged
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reviewer_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    review_note: Mapped[str] = mapped_column(String(300), default="")
    ledger_id: Mapped[int | None] = mapped_column(ForeignKey("points_ledger.id"), default=None)


class ActionBranch(TimestampMixin, Base):
    """行动支部: party members formed for a task (waste sorting, epidemic duty …) with a goal, period, progress."""

    __tablename__ = "action_branch"
    __table_args__ = (
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_percent"),
        CheckConstraint("ends_on >= starts_on", name="period_ordered"),
        CheckConstraint("status IN ('open', 'closed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None)
    name: Mapped[str] = mapped_column(String(100))
    goal: Mapped[str] = mapped_column(String(500))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    progress: Mapped[int] = mapped_column(default=0)  # percent
    progress_note: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    result: Mapped[str] = mapped_column(String(500), default="")
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class ActionBranchMember(Base):
    """A party member of an action branch."""

    __tablename__ = "action_branch_member"
    __table_args__ = (UniqueConstraint("branch_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("action_branch.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("party_member.id"))


class CommunityTag(TimestampMixin, Base):
    """A label a community uses (党员示范户, 先锋岗 …), kept as data; `applies_to` says what it labels."""

    __tablename__ = "community_tag"
    __table_args__ = (
        UniqueConstraint("community_id", "name"),
        CheckConstraint("applies_to IN ('party_member', 'household', 'post')", name="applies_to_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    name: Mapped[str] = mapped_column(String(30))
    applies_to: Mapped[str] = mapped_column(String(16))


class TagAssignment(TimestampMixin, Base):
    """A tag given to a party member (id), a household (party_household id) or a post (volunteer_post id)."""

    __tablename__ = "tag_assignment"
    __table_args__ = (UniqueConstraint("tag_id", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("community_tag.id"), index=True)
    target_id: Mapped[int]


class AwardRound(TimestampMixin, Base):
    """每月评优选先进: one round per community and month; candidates computed, approved, published as a notice."""

    __tablename__ = "award_round"
    __table_args__ = (
        UniqueConstraint("community_id", "period_key"),
        CheckConstraint("status IN ('draft', 'published')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    period_key: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notice.id"), default=None)
    published_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)


class AwardCandidate(Base):
    """A candidate of a round: the month's points from the ledger and approved 先锋日志 entries."""

    __tablename__ = "award_candidate"
    __table_args__ = (UniqueConstraint("round_id", "resident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("award_round.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    rank: Mapped[int]
    points: Mapped[int]
    log_entries: Mapped[int]
    approved: Mapped[bool] = mapped_column(default=False)
