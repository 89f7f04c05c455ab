"""Deliberation councils (议事会): members, meetings, items and the 四议两公开 procedure of a major item."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin

MEMBER_KINDS = (
    "party_member",  # 党员
    "resident_rep",  # 居民代表
    "property_company",  # 物业
    "owners_committee",  # 业委会
    "staff",  # 社区工作者
    "co_building_unit",  # 共建单位
)


def _public_id() -> str:
    return uuid.uuid4().hex


class Council(TimestampMixin, Base):
    """A community's (or an estate's) deliberation council: 红管议事会, 圆桌会, 党群议事会 …"""

    __tablename__ = "council"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=_public_id)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    estate_id: Mapped[int | None] = mapped_column(ForeignKey("estate.id"), default=None)
    name: Mapped[str] = mapped_column(String(100))


class CouncilMember(TimestampMixin, Base):
    """A seat on a council; a member may be a resident or a staff member of hongguan, or only a name."""

    __tablename__ = "council_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    council_id: Mapped[int] = mapped_column(ForeignKey("council.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(32))
    organisation: Mapped[str] = mapped_column(String(100), default="")
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), default=None)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    active: Mapped[bool] = mapped_column(default=True)


class CouncilMeeting(TimestampMixin, Base):
    """A council meeting: its agenda (list of lines), when and where, and the minutes once held."""

    __tablename__ = "council_meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    council_id: Mapped[int] = mapped_column(ForeignKey("council.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    held_at: Mapped[datetime] = mapped_column()
    location: Mapped[str] = mapped_column(String(100), default="")
    agenda: Mapped[list[Any]] = mapped_column(JSON, default=list)
    minutes: Mapped[str | None] = mapped_column(Text, default=None)


class MeetingAttendance(Base):
    """Whether a member attended a meeting (one row per member and meeting)."""

    __tablename__ = "meeting_attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("council_meeting.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("council_member.id"))
    present: Mapped[bool] = mapped_column(default=True)


class CouncilItem(TimestampMixin, Base):
    """A matter before a council (议题): from an appeal, a proposal, a need, or raised by staff.

    A major item follows 四议两公开 (`procedure_step` rows); its decision may create a proposal, a notice or a
    co-building need (需求清单).
    """

    __tablename__ = "council_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=_public_id)
    council_id: Mapped[int] = mapped_column(ForeignKey("council.id"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("council_meeting.id"), default=None)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    source_type: Mapped[str] = mapped_column(String(16), default="staff")  # appeal | proposal | need | staff
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeal.id"), default=None)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposal.id"), default=None)
    need_id: Mapped[int | None] = mapped_column(ForeignKey("cobuilding_need.id"), default=None)
    major: Mapped[bool] = mapped_column(default=True)
    # open → resolved (the four deliberations passed) | rejected (one of them said no) → done (result published)
    status: Mapped[str] = mapped_column(String(16), default="open")
    decision: Mapped[str | None] = mapped_column(Text, default=None)
    created_proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposal.id"), default=None)
    created_notice_id: Mapped[int | None] = mapped_column(ForeignKey("notice.id"), default=None)
    created_need_id: Mapped[int | None] = mapped_column(ForeignKey("cobuilding_need.id"), default=None)


class ProcedureStep(Base):
    """One recorded step of 四议两公开 for an item; UNIQUE(item, step) so a step is recorded once."""

    __tablename__ = "procedure_step"
    __table_args__ = (UniqueConstraint("item_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("council_item.id"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    held_on: Mapped[date] = mapped_column()
    outcome: Mapped[str] = mapped_column(String(16))  # approved | rejected | published
    note: Mapped[str] = mapped_column(Text, default="")
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notice.id"), default=None)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    recorded_at: Mapped[datetime] = mapped_column()
