"""Notices (物业通知公告 / community announcements) and their read receipts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


def _public_id() -> str:
    return uuid.uuid4().hex


class Notice(Base):
    """A community or property announcement; scoped to a community and optionally an estate or a grid."""

    __tablename__ = "notice"
    __table_args__ = (Index("ix_notice_community_published", "community_id", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=_public_id)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    estate_id: Mapped[int | None] = mapped_column(ForeignKey("estate.id"), default=None)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None)
    category: Mapped[str] = mapped_column(String(16), default="community")  # community | property | emergency
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    pinned: Mapped[bool] = mapped_column(default=False)
    author_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeRead(Base):
    """A read receipt: one row per (notice, resident); staff see counts, never who."""

    __tablename__ = "notice_read"
    __table_args__ = (UniqueConstraint("notice_id", "resident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)
