"""Workflow data: the working calendar (holidays and 调休), SLA policies, reminder rows, the on-duty roster
(值班表) and staff tokens."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class CalendarDay(Base):
    """An exception to the Monday–Friday week: a public holiday or a make-up working day (调休)."""

    __tablename__ = "calendar_day"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    is_workday: Mapped[bool] = mapped_column()
    # e.g. "国庆节" or "国庆节调休上班"; shown to staff when a deadline moves.
    name: Mapped[str] = mapped_column(String(50), default="")


class SlaPolicy(Base):
    """How long a unit has to accept and to resolve an appeal of a category and urgency, in minutes: working
    minutes for ordinary appeals, wall-clock minutes (day and night) for urgent ones.

    `category` NULL is the default for every category without its own row. `tier` is a label
    (urgent | general | complex) for reports; the minutes are what count.
    """

    __tablename__ = "sla_policy"
    __table_args__ = (UniqueConstraint("category", "urgent"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str | None] = mapped_column(String(32), default=None)
    urgent: Mapped[bool] = mapped_column(default=False)
    tier: Mapped[str] = mapped_column(String(16), default="general")
    accept_minutes: Mapped[int] = mapped_column()
    resolve_minutes: Mapped[int] = mapped_column()


class Reminder(Base):
    """One scheduled step of an appeal's reminder/escalation ladder (SQL is the truth, RQ carries it).

    `round` counts dispatches of the appeal (a reopen or re-dispatch starts a new round), so each
    (appeal, round, level) fires at most once; `sent_at`/`cancelled_at` make the step idempotent.
    """

    __tablename__ = "appeal_reminder"
    __table_args__ = (
        UniqueConstraint("appeal_id", "round", "level"),
        Index("ix_appeal_reminder_due", "sent_at", "cancelled_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeal.id"), index=True)
    round: Mapped[int] = mapped_column(default=1)
    # remind_50 | remind_80 | overdue | secretary | accept_overdue | auto_close | triage_overdue | triage_secretary
    level: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_reason: Mapped[str | None] = mapped_column(String(64), default=None)


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


class StaffToken(Base):
    """A bearer token for the staff console; only its SHA-256 is stored."""

    __tablename__ = "staff_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # Refused from this moment on (HONGGUAN_STAFF_TOKEN_TTL after issue, or `hongguan staff-token --ttl`).
    expires_at: Mapped[datetime] = mapped_column()
