"""The on-duty roster (值班表): who answers for a community outside working hours."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class DutyShift(Base):
    """One on-duty shift (值班) of a staff member for a community, [starts_at, ends_at) in UTC.

    Whoever is on shift is told of every appeal that waits for triage, and of every step of an urgent
    appeal's ladder outside working hours (nights, weekends, holidays). `shift` is a label for the roster
    view: day | night | custom.
    """

    __tablename__ = "duty_shift"
    __table_args__ = (
        UniqueConstraint("community_id", "staff_id", "starts_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_duty_shift_community_window", "community_id", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    shift: Mapped[str] = mapped_column(String(16), default="custom")
    note: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
