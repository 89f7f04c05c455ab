"""Appeal deadlines as data: SLA policies per category and urgency, and the reminder/escalation ladder's rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


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
