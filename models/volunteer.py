"""Volunteers: applications, skills, teams (志愿服务队) and posts (岗位) claimed for a duty period (认岗领责)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin

APPLICATION_STATUSES = ("pending", "approved", "declined")


class VolunteerApplication(TimestampMixin, Base):
    """A resident's request to become a volunteer; staff approve or decline it with a reason."""

    __tablename__ = "volunteer_application"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'declined')", name="status_known"),
        Index("ix_volunteer_application_queue", "community_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None)
    skills: Mapped[list[Any]] = mapped_column(JSON, default=list)
    availability: Mapped[str] = mapped_column(String(200), default="")
    preferred_team_id: Mapped[int | None] = mapped_column(ForeignKey("volunteer_team.id"), default=None)
    service_area: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decline_reason: Mapped[str] = mapped_column(String(300), default="")
    reviewed_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)


class VolunteerSkill(Base):
    """One skill of an approved volunteer (call-ups filter on these)."""

    __tablename__ = "volunteer_skill"
    __table_args__ = (UniqueConstraint("resident_id", "skill"), Index("ix_volunteer_skill_skill", "skill"))

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    skill: Mapped[str] = mapped_column(String(30))


class VolunteerTeam(TimestampMixin, Base):
    """A volunteer team (志愿服务队) of a community, optionally of one grid, with a leader."""

    __tablename__ = "volunteer_team"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    leader_resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), default=None)
    active: Mapped[bool] = mapped_column(default=True)


class TeamMember(TimestampMixin, Base):
    """A volunteer's membership of a team (role: leader or member)."""

    __tablename__ = "team_member"
    __table_args__ = (
        UniqueConstraint("team_id", "resident_id"),
        CheckConstraint("role IN ('leader', 'member')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("volunteer_team.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")


class VolunteerPost(TimestampMixin, Base):
    """A post (岗位, e.g. 楼道长, 垃圾分类督导) volunteers claim for a duty period; `holders` is its size."""

    __tablename__ = "volunteer_post"
    __table_args__ = (CheckConstraint("holders > 0", name="holders_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("volunteer_team.id"), default=None)
    name: Mapped[str] = mapped_column(String(100))
    duties: Mapped[str] = mapped_column(String(500), default="")
    holders: Mapped[int] = mapped_column(default=1)
    active: Mapped[bool] = mapped_column(default=True)


class PostClaim(TimestampMixin, Base):
    """A volunteer holding a post for a duty period; an active claim takes one numbered seat of the post."""

    __tablename__ = "post_claim"
    __table_args__ = (
        # An active claim holds seat 1..holders; a released claim frees its seat (NULLs never collide).
        UniqueConstraint("post_id", "seat"),
        CheckConstraint("ends_on >= starts_on", name="period_ordered"),
        CheckConstraint("seat IS NULL OR seat >= 1", name="seat_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("volunteer_post.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    seat: Mapped[int | None] = mapped_column(default=None)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
