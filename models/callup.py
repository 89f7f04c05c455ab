"""Call-ups (倡议): shifts with a quota, an audience, sign-ups with a waitlist, and the per-person send list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin

CALLUP_STATUSES = ("open", "closed", "cancelled")


class Callup(TimestampMixin, Base):
    """A call-up to volunteers and/or party members; `audience` holds the filter it was sent with."""

    __tablename__ = "callup"
    __table_args__ = (
        CheckConstraint("signup_closes_at > signup_opens_at", name="window_ordered"),
        CheckConstraint("status IN ('open', 'closed', 'cancelled')", name="status_known"),
        CheckConstraint("points_on_attendance >= 0", name="points_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    # {"volunteers": bool, "party_members": bool, "grid_ids": [...], "team_ids": [...], "skills": [...]}
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    signup_opens_at: Mapped[datetime]
    signup_closes_at: Mapped[datetime]
    points_on_attendance: Mapped[int] = mapped_column(default=0)
    waitlist_capacity: Mapped[int] = mapped_column(default=50)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    # Set when the audience was frozen into callup_recipient rows (the send starts after that).
    recipients_frozen_at: Mapped[datetime | None] = mapped_column(default=None)


class CallupShift(TimestampMixin, Base):
    """One shift of a call-up: place, time and quota; `taken` is the seat counter (conditional UPDATE)."""

    __tablename__ = "callup_shift"
    __table_args__ = (
        CheckConstraint("quota > 0", name="quota_positive"),
        # Backstop for the conditional increment `… WHERE taken < quota`.
        CheckConstraint("taken >= 0 AND taken <= quota", name="taken_within_quota"),
        CheckConstraint("ends_at > starts_at", name="times_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    callup_id: Mapped[int] = mapped_column(ForeignKey("callup.id"), index=True)
    place: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    quota: Mapped[int]
    taken: Mapped[int] = mapped_column(default=0)


SHIFT_SIGNUP_STATUSES = ("confirmed", "waitlisted", "cancelled", "attended", "no_show")


class ShiftSignup(TimestampMixin, Base):
    """One person's place on a shift (one row per shift and person, reused when they sign up again)."""

    __tablename__ = "shift_signup"
    __table_args__ = (
        UniqueConstraint("shift_id", "resident_id"),
        CheckConstraint(
            "status IN ('confirmed', 'waitlisted', 'cancelled', 'attended', 'no_show')", name="status_known"
        ),
        Index("ix_shift_signup_queue", "shift_id", "status", "queued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("callup_shift.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    queued_at: Mapped[datetime]
    promoted_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    checked_in_at: Mapped[datetime | None] = mapped_column(default=None)
    checked_in_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    # Random per sign-up; part of the signed check-in QR so a re-signup invalidates an old code.
    qr_nonce: Mapped[str] = mapped_column(String(64))
    ledger_id: Mapped[int | None] = mapped_column(ForeignKey("points_ledger.id"), default=None)


class CallupRecipient(Base):
    """One person a call-up goes to: the frozen audience, walked by the resumable send job."""

    __tablename__ = "callup_recipient"
    __table_args__ = (
        UniqueConstraint("callup_id", "resident_id"),
        Index("ix_callup_recipient_progress", "callup_id", "queued_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    callup_id: Mapped[int] = mapped_column(ForeignKey("callup.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    # When its notification was handed to the outbox (None: still to do).
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
