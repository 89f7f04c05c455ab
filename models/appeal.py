"""Appeals (民意诉求) and their append-only event log; every KPI is recomputable from `appeal_event`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin, utcnow

# The workflow's states. Closed states carry a closure code instead of separate states.
APPEAL_STATES = (
    "received",  # stored, not yet classified
    "triaged",  # classified; waiting for a human to dispatch (low confidence, `other`, arbitration)
    "dispatched",  # sent to a handling unit; the deadline clock runs from here
    "accepted",  # 签收 by the handling unit
    "in_progress",
    "returned",  # 退单 by the handling unit, with a reason; goes back to triage or arbitration
    "resolved",  # handler says done; waiting for the resident's evaluation
    "closed",
)
CLOSURE_CODES = ("resolved", "unresolved", "duplicate", "referred", "withdrawn")
HANDLER_TYPES = ("grid", "department", "property_company")
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")


def _public_id() -> str:
    return uuid.uuid4().hex


class Appeal(TimestampMixin, Base):
    """One resident appeal or consultation, from intake to closure."""

    __tablename__ = "appeal"
    __table_args__ = (
        Index("ix_appeal_status_due", "status", "due_at"),
        Index("ix_appeal_resident_status", "resident_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Short number quoted to residents ("HG2611220000042"); public_id is the non-enumerable id used in URLs.
    number: Mapped[str | None] = mapped_column(String(24), unique=True, default=None)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=_public_id)
    kind: Mapped[str] = mapped_column(String(16), default="appeal")  # appeal | consultation
    channel: Mapped[str] = mapped_column(String(16), default="wechat")  # wechat | miniapp | staff | phone
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), default=None)
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"), default=None)
    text: Mapped[str] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(default=None)
    longitude: Mapped[float | None] = mapped_column(default=None)
    address: Mapped[str | None] = mapped_column(String(200), default=None)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"), default=None)

    status: Mapped[str] = mapped_column(String(16), default="received", index=True)
    closure_code: Mapped[str | None] = mapped_column(String(16), default=None)
    closure_note: Mapped[str | None] = mapped_column(Text, default=None)

    # Classification and routing decision, kept for audit ("why did this go to 城管?").
    category: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    confidence: Mapped[float | None] = mapped_column(default=None)
    urgent: Mapped[bool] = mapped_column(default=False)
    urgency_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_version: Mapped[str | None] = mapped_column(String(64), default=None)
    routing_keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    routing_note: Mapped[str | None] = mapped_column(String(500), default=None)

    # Who handles it.
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), default=None, index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None, index=True)
    handler_type: Mapped[str | None] = mapped_column(String(20), default=None)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), default=None, index=True)
    property_company_id: Mapped[int | None] = mapped_column(ForeignKey("property_company.id"), default=None, index=True)
    assignee_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)

    # An appeal nobody could place waits for triage (分拣) against its own deadline, from the moment it arrived.
    triage_due_at: Mapped[datetime | None] = mapped_column(default=None)
    # The clock starts at dispatch; acceptance has its own shorter deadline.
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    accept_due_at: Mapped[datetime | None] = mapped_column(default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    overdue: Mapped[bool] = mapped_column(default=False)
    escalation_level: Mapped[int] = mapped_column(default=0)
    return_count: Mapped[int] = mapped_column(default=0)
    reopen_count: Mapped[int] = mapped_column(default=0)
    last_chased_at: Mapped[datetime | None] = mapped_column(default=None)

    # Evaluation (回访).
    rating: Mapped[str | None] = mapped_column(String(24), default=None)
    rating_comment: Mapped[str | None] = mapped_column(Text, default=None)
    rated_at: Mapped[datetime | None] = mapped_column(default=None)

    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("appeal.id"), default=None)


class AppealEvent(Base):
    """An append-only record of something that happened to an appeal (never updated or deleted)."""

    __tablename__ = "appeal_event"
    __table_args__ = (Index("ix_appeal_event_appeal_id_at", "appeal_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeal.id"))
    action: Mapped[str] = mapped_column(String(32))  # create, classify, dispatch, accept, return, rate …
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str | None] = mapped_column(String(16), default=None)
    actor_type: Mapped[str] = mapped_column(String(16))  # resident | staff | system
    actor_id: Mapped[int | None] = mapped_column(default=None)
    reason_code: Mapped[str | None] = mapped_column(String(32), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AppealAttachment(Base):
    """A photo, voice note or file attached to an appeal (WeChat media_id or stored URL)."""

    __tablename__ = "appeal_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeal.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # image | voice | video | file
    media_id: Mapped[str | None] = mapped_column(String(128), default=None)
    url: Mapped[str | None] = mapped_column(String(500), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    added_by_type: Mapped[str] = mapped_column(String(16))  # resident | staff
    added_by_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppealSupporter(Base):
    """A resident who reported the same problem ("me too"); supporters receive the appeal's updates."""

    __tablename__ = "appeal_supporter"
    __table_args__ = (UniqueConstraint("appeal_id", "resident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeal.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
