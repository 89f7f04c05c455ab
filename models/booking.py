"""Venue booking (社区场馆预约): venues, seats, closures, bookings, the seat-slot guard, strikes and bans.

The database is the authority against double booking : every active booking owns one
`booking_seat` row per slot it covers, and

- UNIQUE(venue_id, slot_start, seat_no) means a seat of a slot can be held by one booking only;
- the composite foreign key (venue_id, seat_no) → venue_seat means a seat number beyond the venue's capacity
  cannot exist, so over-capacity rows cannot be stored either;
- UNIQUE(venue_id, slot_start, resident_id) stops one resident holding two seats of the same slot.

Cancelling, rejecting or releasing a booking deletes its seat rows, which frees the slot. This works the same on
SQLite and PostgreSQL; on PostgreSQL an exclusion constraint additionally forbids two active bookings of one
resident at one venue from overlapping in time (variable-length ranges the fixed slot rows cannot express).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin, utcnow

# pending: waiting for staff approval (holds its seats); confirmed; offered: promoted from the waitlist and
# holding its seats until `offer_expires_at`; waitlisted: no seats; checked_in; the rest are final.
BOOKING_STATES = ("pending", "confirmed", "offered", "waitlisted", "checked_in", "cancelled", "rejected", "no_show",
                  "expired")  # fmt: skip
SEAT_HOLDING_STATES = ("pending", "confirmed", "offered", "checked_in")
ACTIVE_STATES = ("pending", "confirmed", "offered")  # count towards the per-resident quota


class Venue(TimestampMixin, Base):
    """A bookable room or a room of N seats, with its opening hours and booking rules (all editable data)."""

    __tablename__ = "venue"
    __table_args__ = (
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("slot_minutes >= 5", name="slot_minutes_min"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    capacity: Mapped[int] = mapped_column(default=1)  # 1 = a room booked whole; N = N seats
    slot_minutes: Mapped[int] = mapped_column(default=60)
    max_slots_per_booking: Mapped[int] = mapped_column(default=2)
    # {"0": [["09:00", "12:00"], ["14:00", "21:00"]], ...}: local times, Monday = "0"; a missing day is closed.
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    min_notice_minutes: Mapped[int] = mapped_column(default=60)  # book at least this long before the start
    max_advance_days: Mapped[int] = mapped_column(default=14)  # and at most this far ahead
    cancel_cutoff_minutes: Mapped[int] = mapped_column(default=120)  # cancel at least this long before
    quota_active: Mapped[int] = mapped_column(default=2)  # future active bookings per resident, all venues
    requires_approval: Mapped[bool] = mapped_column(default=False)
    checkin_opens_minutes: Mapped[int] = mapped_column(default=15)  # check-in opens this long before the start
    no_show_after_minutes: Mapped[int] = mapped_column(default=15)  # released as a no-show this long after
    closed_on_holidays: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)


class VenueSeat(Base):
    """One row per seat number 0..capacity-1: the target of booking_seat's composite foreign key."""

    __tablename__ = "venue_seat"

    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id"), primary_key=True)
    seat_no: Mapped[int] = mapped_column(primary_key=True)


class VenueClosure(Base):
    """A day a venue (or, with venue_id NULL, every venue of the community) is closed: blackout or holiday."""

    __tablename__ = "venue_closure"
    __table_args__ = (Index("ix_venue_closure_community_day", "community_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    venue_id: Mapped[int | None] = mapped_column(ForeignKey("venue.id"), default=None)
    day: Mapped[date]
    kind: Mapped[str] = mapped_column(String(16), default="blackout")  # blackout | holiday
    reason: Mapped[str] = mapped_column(String(100), default="")


class Booking(TimestampMixin, Base):
    """A resident's booking of one venue for one or more consecutive slots."""

    __tablename__ = "booking"
    __table_args__ = (
        Index("ix_booking_resident_status", "resident_id", "status"),
        Index("ix_booking_status_starts", "status", "starts_at"),
        Index("ix_booking_waitlist", "venue_id", "starts_at", "status", "id"),
        CheckConstraint("ends_at > starts_at", name="range_positive"),
        # PostgreSQL: one resident cannot hold two overlapping active bookings of the same venue (btree_gist).
        ExcludeConstraint(
            ("venue_id", "="),
            ("resident_id", "="),
            (text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
            where=text("status IN ('pending', 'confirmed', 'offered', 'checked_in')"),
            using="gist",
            name="ex_booking_resident_overlap",
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(200), default="")
    offer_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    decision_note: Mapped[str | None] = mapped_column(String(200), default=None)
    checkin_nonce: Mapped[str] = mapped_column(String(32), default=lambda: uuid.uuid4().hex)
    checked_in_at: Mapped[datetime | None] = mapped_column(default=None)
    checked_in_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
    reminder_queued_at: Mapped[datetime | None] = mapped_column(default=None)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    reminder_result: Mapped[str | None] = mapped_column(String(64), default=None)


class BookingSeat(Base):
    """A seat of one slot held by one active booking; the uniques and the seat FK are the capacity guard."""

    __tablename__ = "booking_seat"
    __table_args__ = (
        UniqueConstraint("venue_id", "slot_start", "seat_no", name="uq_booking_seat_slot_seat"),
        UniqueConstraint("venue_id", "slot_start", "resident_id", name="uq_booking_seat_slot_resident"),
        ForeignKeyConstraint(
            ["venue_id", "seat_no"],
            ["venue_seat.venue_id", "venue_seat.seat_no"],
            name="fk_booking_seat_venue_seat",
        ),
        CheckConstraint("seat_no >= 0", name="seat_no_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id", ondelete="CASCADE"), index=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    slot_start: Mapped[datetime]
    seat_no: Mapped[int]


class NoShowStrike(Base):
    """A no-show recorded by the release job; one per booking."""

    __tablename__ = "no_show_strike"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BookingBan(Base):
    """A period during which a resident may not book (strikes reached the limit), with its reason."""

    __tablename__ = "booking_ban"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200), default="")
    # The strike that triggered the ban: UNIQUE so a re-run of the release job cannot ban twice for one strike.
    strike_id: Mapped[int | None] = mapped_column(ForeignKey("no_show_strike.id"), unique=True, default=None)
    lifted_at: Mapped[datetime | None] = mapped_column(default=None)
    lifted_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
