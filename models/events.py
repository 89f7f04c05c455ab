"""Community events (活动报名): capacity, signup window, eligibility, waitlist, QR check-in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin


class Event(TimestampMixin, Base):
    """An event residents sign up for; `confirmed_count` is the seat counter (conditional UPDATE)."""

    __tablename__ = "event"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        # Backstop for the conditional increment `… WHERE confirmed_count < capacity`.
        CheckConstraint("confirmed_count >= 0 AND confirmed_count <= capacity", name="seats_within_capacity"),
        CheckConstraint("waitlist_capacity >= 0", name="waitlist_non_negative"),
        CheckConstraint("points_on_attendance >= 0", name="points_non_negative"),
        CheckConstraint("signup_closes_at > signup_opens_at", name="window_ordered"),
        CheckConstraint("ends_at > starts_at", name="times_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    # Eligibility: when set, only residents of this grid may sign up.
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None, index=True)
    volunteers_only: Mapped[bool] = mapped_column(default=False)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    signup_opens_at: Mapped[datetime]
    signup_closes_at: Mapped[datetime]
    capacity: Mapped[int]
    confirmed_count: Mapped[int] = mapped_column(default=0)
    waitlist_capacity: Mapped[int] = mapped_column(default=20)  # 0: no waitlist
    points_on_attendance: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="published")  # published | cancelled
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)


SIGNUP_STATUSES = ("confirmed", "waitlisted", "cancelled")


class EventSignup(TimestampMixin, Base):
    """One resident's place on an event: one row per (event, resident), re-used if they sign up again."""

    __tablename__ = "event_signup"
    __table_args__ = (
        UniqueConstraint("event_id", "resident_id"),
        CheckConstraint("status IN ('confirmed', 'waitlisted', 'cancelled')", name="status_known"),
        Index("ix_event_signup_queue", "event_id", "status", "queued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    # FIFO order of the waitlist (time of the latest signup; ties broken by id).
    queued_at: Mapped[datetime]
    promoted_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    checked_in_at: Mapped[datetime | None] = mapped_column(default=None)
    checked_in_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    # Random per signup; part of the signed check-in QR so a re-signup invalidates an old code.
    qr_nonce: Mapped[str] = mapped_column(String(64))
    ledger_id: Mapped[int | None] = mapped_column(ForeignKey("points_ledger.id"), default=None)
