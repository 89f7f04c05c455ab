"""Co-building (共建) under a community's 大党委: member units, their 兼职委员, the resource, needs and project lists,
and one-click orders (一键下单) with their acceptance (接单) ladder."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin, utcnow

UNIT_KINDS = ("agency", "state_owned", "business", "school", "social_org", "other")
RESOURCE_KINDS = ("activity", "venue", "service", "expertise", "funding", "goods")
NEED_SOURCES = ("staff", "appeal", "deliberation")
NEED_STATES = ("open", "ordered", "met", "closed")
ORDER_STATES = ("placed", "accepted", "declined", "scheduled", "delivered", "confirmed", "evaluated", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CobuildingUnit(TimestampMixin, Base):
    """A member unit (成员单位) of a community's 大党委: an agency, a state-owned company, a business, a school …"""

    __tablename__ = "cobuilding_unit"
    __table_args__ = (CheckConstraint(_in("kind", UNIT_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    # The membership period of the 大党委; an open end means until further notice.
    member_from: Mapped[date] = mapped_column(Date)
    member_until: Mapped[date | None] = mapped_column(Date, default=None)
    active: Mapped[bool] = mapped_column(default=True)


class CobuildingMember(TimestampMixin, Base):
    """A 兼职委员 a unit sends to the 大党委; with `staff_id`, the console login that acts for the unit."""

    __tablename__ = "cobuilding_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("cobuilding_unit.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    post: Mapped[str] = mapped_column(String(50), default="兼职委员")
    phone: Mapped[str] = mapped_column(String(20), default="")
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), unique=True, default=None)
    serves_from: Mapped[date] = mapped_column(Date)
    serves_until: Mapped[date | None] = mapped_column(Date, default=None)


class CobuildingResource(TimestampMixin, Base):
    """A resource a unit offers (资源清单). `reserved` counts what live orders hold; the CHECK keeps it within
    `capacity`, so no order can be stored beyond what is left."""

    __tablename__ = "cobuilding_resource"
    __table_args__ = (
        CheckConstraint(_in("kind", RESOURCE_KINDS), name="kind"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("reserved >= 0 AND reserved <= capacity", name="reserved_within_capacity"),
        CheckConstraint("available_until > available_from", name="window"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("cobuilding_unit.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    capacity: Mapped[int] = mapped_column()
    reserved: Mapped[int] = mapped_column(default=0)
    # What one unit of capacity is: 人次, 场, 份, 元 …
    unit_label: Mapped[str] = mapped_column(String(10), default="次")
    available_from: Mapped[datetime] = mapped_column()
    available_until: Mapped[datetime] = mapped_column()
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(default=True)


class CobuildingResourceCommunity(Base):
    """A community a resource serves."""

    __tablename__ = "cobuilding_resource_community"
    __table_args__ = (UniqueConstraint("resource_id", "community_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("cobuilding_resource.id"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)


class CobuildingNeed(TimestampMixin, Base):
    """A need a community or grid branch posts (需求清单): typed by staff, raised from an appeal or a deliberation."""

    __tablename__ = "cobuilding_need"
    __table_args__ = (
        CheckConstraint(_in("source", NEED_SOURCES), name="source"),
        CheckConstraint(_in("status", NEED_STATES), name="status"),
        CheckConstraint("beneficiaries >= 0", name="beneficiaries"),
        CheckConstraint("source <> 'appeal' OR appeal_id IS NOT NULL", name="appeal_named"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None)
    source: Mapped[str] = mapped_column(String(16), default="staff")
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeal.id"), default=None, index=True)
    # A deliberation item (议事) the need came from, by its reference until deliberations have a table.
    deliberation_ref: Mapped[str | None] = mapped_column(String(64), default=None)
    kind: Mapped[str | None] = mapped_column(String(16), default=None)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    beneficiaries: Mapped[int] = mapped_column(default=0)
    beneficiary_note: Mapped[str] = mapped_column(String(200), default="")
    wanted_by: Mapped[date | None] = mapped_column(Date, default=None)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)


class CobuildingProject(TimestampMixin, Base):
    """A co-building project (项目清单) pairing needs with resources and units; closed with a result and photos."""

    __tablename__ = "cobuilding_project"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'closed')", name="status"),
        CheckConstraint("budget_yuan >= 0", name="budget"),
        CheckConstraint("status <> 'closed' OR result IS NOT NULL", name="closed_with_result"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    goal: Mapped[str] = mapped_column(Text, default="")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    budget_yuan: Mapped[int] = mapped_column(default=0)
    progress: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    result: Mapped[str | None] = mapped_column(Text, default=None)
    photos: Mapped[list[Any]] = mapped_column(JSON, default=list)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)


class CobuildingProjectLink(Base):
    """One unit of a project, with the need it answers and the resource it brings (either may be absent)."""

    __tablename__ = "cobuilding_project_link"
    __table_args__ = (UniqueConstraint("project_id", "unit_id", "need_id", "resource_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("cobuilding_project.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("cobuilding_unit.id"), index=True)
    need_id: Mapped[int | None] = mapped_column(ForeignKey("cobuilding_need.id"), default=None)
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("cobuilding_resource.id"), default=None)


class CobuildingProjectUpdate(Base):
    """A progress update (进展) of a project."""

    __tablename__ = "cobuilding_project_update"
    __table_args__ = (CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("cobuilding_project.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None)
    text: Mapped[str] = mapped_column(Text)
    progress: Mapped[int] = mapped_column()
    photos: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CobuildingOrder(TimestampMixin, Base):
    """One order (一键下单) of a resource by a community or grid branch, from placing to the requester's evaluation."""

    __tablename__ = "cobuilding_order"
    __table_args__ = (
        CheckConstraint(_in("status", ORDER_STATES), name="status"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("status <> 'declined' OR decline_reason IS NOT NULL", name="declined_with_reason"),
        CheckConstraint("score IS NULL OR (score >= 1 AND score <= 5)", name="score"),
        Index("ix_cobuilding_order_unit_status", "unit_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("cobuilding_resource.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("cobuilding_unit.id"))
    need_id: Mapped[int | None] = mapped_column(ForeignKey("cobuilding_need.id"), default=None, index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), default=None)
    requester_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    quantity: Mapped[int] = mapped_column()
    beneficiaries: Mapped[int] = mapped_column(default=0)
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="placed")
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    accept_due_at: Mapped[datetime] = mapped_column()
    escalated: Mapped[bool] = mapped_column(default=False)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    declined_at: Mapped[datetime | None] = mapped_column(default=None)
    decline_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    scheduled_for: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    unit_confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    requester_confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    score: Mapped[int | None] = mapped_column(default=None)
    evaluation: Mapped[str | None] = mapped_column(String(1000), default=None)
    evaluated_at: Mapped[datetime | None] = mapped_column(default=None)


class CobuildingReminder(Base):
    """One step of an order's acceptance ladder (remind the unit, then escalate to the secretary), run once."""

    __tablename__ = "cobuilding_reminder"
    __table_args__ = (
        UniqueConstraint("order_id", "level"),
        Index("ix_cobuilding_reminder_due", "sent_at", "cancelled_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("cobuilding_order.id"), index=True)
    level: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
