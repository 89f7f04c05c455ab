"""Micro-projects (和谐微实事): residents' proposals, the projects funded from them, and the yearly budget cap."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin

PROPOSAL_SCOPES = ("building", "estate", "community")
# [gathering → submitted | expired, where the community asks for supports]; submitted → feasible | merged |
# declined; feasible → on_ballot → funded | not_funded
PROPOSAL_STATES = (
    "gathering", "expired", "submitted", "feasible", "merged", "declined", "on_ballot", "funded", "not_funded"
)  # fmt: skip
PROJECT_STATES = ("funded", "in_progress", "completed")


def _public_id() -> str:
    return uuid.uuid4().hex


class Proposal(TimestampMixin, Base):
    """A resident's (or a council decision's) micro-project idea for a building, an estate or the community."""

    __tablename__ = "proposal"
    __table_args__ = (
        CheckConstraint("rough_cost_yuan >= 0", name="cost_non_negative"),
        CheckConstraint("scope IN ('building', 'estate', 'community')", name="scope_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=_public_id)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    estate_id: Mapped[int | None] = mapped_column(ForeignKey("estate.id"), default=None)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"), default=None)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    photos: Mapped[list[Any]] = mapped_column(JSON, default=list)
    rough_cost_yuan: Mapped[int] = mapped_column(default=0)
    source: Mapped[str] = mapped_column(String(16), default="miniapp")  # miniapp | chat | council
    proposer_resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), default=None, index=True)
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("proposal.id"), default=None)
    screening_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    screened_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    screened_at: Mapped[datetime | None] = mapped_column(default=None)
    # Supports from residents of the scope: how many it needs (the community's rule when proposed), how many it
    # has, and until when it may gather them.
    supports_needed: Mapped[int] = mapped_column(default=0, server_default="0")
    support_count: Mapped[int] = mapped_column(default=0, server_default="0")
    supports_until: Mapped[datetime | None] = mapped_column(default=None)


class SupportThreshold(TimestampMixin, Base):
    """A community's rule for new proposals: N supports from residents of the scope within so many days."""

    __tablename__ = "support_threshold"
    __table_args__ = (
        CheckConstraint("supports_needed >= 0", name="needed_non_negative"),
        CheckConstraint("window_days >= 1 AND window_days <= 365", name="window_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), unique=True)
    supports_needed: Mapped[int] = mapped_column()
    window_days: Mapped[int] = mapped_column()


class ProposalSupport(Base):
    """One resident's support of a proposal; UNIQUE(proposal, resident) makes it one per resident."""

    __tablename__ = "proposal_support"
    __table_args__ = (UniqueConstraint("proposal_id", "resident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposal.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    created_at: Mapped[datetime] = mapped_column()


class CommunityBudget(TimestampMixin, Base):
    """A community's micro-project money for one year; the CHECK keeps what is committed within the cap."""

    __tablename__ = "community_budget"
    __table_args__ = (
        UniqueConstraint("community_id", "year"),
        CheckConstraint("committed_yuan >= 0 AND committed_yuan <= cap_yuan", name="within_cap"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    year: Mapped[int] = mapped_column()
    cap_yuan: Mapped[int] = mapped_column()
    committed_yuan: Mapped[int] = mapped_column(default=0)


class MicroProject(TimestampMixin, Base):
    """A funded proposal, tracked to completion and shown to the residents of its scope."""

    __tablename__ = "micro_project"
    __table_args__ = (
        CheckConstraint("budget_yuan > 0", name="budget_positive"),
        CheckConstraint("progress_percent >= 0 AND progress_percent <= 100", name="progress_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=_public_id)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposal.id"), unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    year: Mapped[int] = mapped_column()
    budget_yuan: Mapped[int] = mapped_column()
    spent_yuan: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="funded")
    progress_percent: Mapped[int] = mapped_column(default=0)
    funded_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class ProjectUpdate(Base):
    """A progress report on a funded project: a note, photos, the progress and the money spent so far."""

    __tablename__ = "project_update"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("micro_project.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    note: Mapped[str] = mapped_column(Text)
    photos: Mapped[list[Any]] = mapped_column(JSON, default=list)
    progress_percent: Mapped[int] = mapped_column()
    spent_yuan: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column()
