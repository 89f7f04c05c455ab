"""Routing data editable by staff: category → handling unit rules, consultation answers, duplicate policy,
staff-corrected labels for retraining, and chat messages waiting for "which appeal is this about?"."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin, utcnow


class RoutingRule(TimestampMixin, Base):
    """Category (within an optional community / estate / grid scope) → the unit that handles it.

    The most specific active rule wins (grid > estate > community > default), then the higher priority.
    handler_type "property_company" without a company means "the estate's own property company".
    """

    __tablename__ = "routing_rule"
    __table_args__ = (
        CheckConstraint("handler_type IN ('grid', 'department', 'property_company')", name="handler_type"),
        CheckConstraint("handler_type != 'department' OR department_id IS NOT NULL", name="department_set"),
        Index("ix_routing_rule_category_active", "category", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), default=None)
    estate_id: Mapped[int | None] = mapped_column(ForeignKey("estate.id"), default=None)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None)
    handler_type: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), default=None)
    property_company_id: Mapped[int | None] = mapped_column(ForeignKey("property_company.id"), default=None)
    priority: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str | None] = mapped_column(String(200), default=None)


class ConsultAnswer(TimestampMixin, Base):
    """A canned answer to a service-centre question (where, when, what to bring); matched by keywords."""

    __tablename__ = "consult_answer"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), default=None)
    topic: Mapped[str] = mapped_column(String(50))
    # Any of these substrings in the question selects this answer; an empty list is the general fallback.
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class DuplicatePolicy(TimestampMixin, Base):
    """How eagerly a new appeal is merged into an open one as a "me too" (per category; null = default)."""

    __tablename__ = "duplicate_policy"
    __table_args__ = (UniqueConstraint("category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str | None] = mapped_column(String(32), default=None)
    window_days: Mapped[int] = mapped_column(default=14)
    radius_m: Mapped[float] = mapped_column(default=100.0)
    threshold: Mapped[float] = mapped_column(default=0.2)  # jieba token Jaccard similarity τ
    active: Mapped[bool] = mapped_column(default=True)


class LabelledExample(Base):
    """A (text, label) pair for `hongguan nlp train`, e.g. from a staff member re-categorising an appeal."""

    __tablename__ = "labelled_example"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32), default="staff_correction")
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeal.id"), default=None, index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PendingFollowUp(Base):
    """A chat message held while the resident says which open appeal it belongs to (nothing is lost)."""

    __tablename__ = "pending_follow_up"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"), default=None)
    channel: Mapped[str] = mapped_column(String(16), default="wechat")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
