"""One-click ordering (一键下单) and 接单: an order's life from placing to the requester's evaluation.

placed → accepted (接单) | declined (with a reason) | cancelled; accepted → scheduled | cancelled;
scheduled → delivered; delivered → confirmed (once both sides have confirmed); confirmed → evaluated.

Capacity is held by the database: placing an order is one conditional UPDATE of the resource's `reserved`
counter (`… WHERE reserved + n <= capacity AND available_until > now RETURNING`), and a CHECK keeps
`reserved <= capacity` whatever a caller does, so concurrent orders can never exceed what is left. Every state
change is a conditional UPDATE on the current status too, so two concurrent answers cannot both win.

The unit has one working day (the appeals' working calendar, `services.appeals.calendar`) to accept or decline: it is
reminded at half time and, when the day is over, the community secretary is told (SQL reminder rows, handed to
RQ by `jobs.cobuilding.tick` under stable job ids, each step claimed once, as the appeal ladder does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from infra import clock
from models.cobuilding import (
    CobuildingMember,
    CobuildingNeed,
    CobuildingOrder,
    CobuildingReminder,
    CobuildingResource,
    CobuildingResourceCommunity,
    CobuildingUnit,
)
from models.staff import Staff
from services.appeals.calendar import add_working_minutes
from services.appeals.deadlines import WORKDAY_MINUTES
from services.cobuilding import units
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound
from services.notifications import notify

# The unit answers (接单 or a reasoned decline) within one working day.
ACCEPT_MINUTES = WORKDAY_MINUTES
# Ladder on the acceptance deadline: (level, fraction of the working time).
ACCEPT_LADDER: tuple[tuple[str, float], ...] = (("remind", 0.5), ("overdue", 1.0))

TRANSITIONS: dict[str, frozenset[str]] = {
    "placed": frozenset({"accepted", "declined", "cancelled"}),
    "accepted": frozenset({"scheduled", "cancelled"}),
    "scheduled": frozenset({"delivered"}),
    "delivered": frozenset({"confirmed"}),
    "confirmed": frozenset({"evaluated"}),
}
# States that hold capacity (a declined or cancelled order gives it back).
RELEASED_STATES = frozenset({"declined", "cancelled"})
STATUS_LABELS = {
    "placed": "待接单",
    "accepted": "已接单",
    "declined": "已婉拒",
    "scheduled": "已排期",
    "delivered": "已交付",
    "confirmed": "双方已确认",
    "evaluated": "已评价",
    "cancelled": "已撤单",
}
MIN_REASON_LENGTH = 2


@dataclass(frozen=True)
class Placed:
    """A placed order and how much of its resource is left."""

    order: CobuildingOrder
    remaining: int


def _resource_for_order(session: Session, staff: Staff, resource_id: int) -> CobuildingResource:
    resource = session.get(CobuildingResource, resource_id)
    if resource is None:
        raise NotFound("没有这项资源")
    if staff.role not in units.CROSS_COMMUNITY_ROLES:
        serves = session.scalar(
            select(CobuildingResourceCommunity.id).where(
                CobuildingResourceCommunity.resource_id == resource.id,
                CobuildingResourceCommunity.community_id == staff.community_id,
            )
        )
        if serves is None:
            raise NotFound("没有这项资源")
    return resource


def place(
    session: Session,
    staff: Staff,
    *,
    resource_id: int,
    quantity: int = 1,
    need_id: int | None = None,
    beneficiaries: int | None = None,
    note: str = "",
) -> Placed:
    """一键下单: order `quantity` of a resource for the caller's community (and grid), from the list or a need."""
    if staff.role not in units.REQUESTER_ROLES:
        raise Forbidden("只有社区和网格的工作人员可以下单")
    community_id = units.community_of(staff)
    if quantity < 1:
        raise DomainError("数量至少为 1", code="bad_quantity")
    resource = _resource_for_order(session, staff, resource_id)
    need: CobuildingNeed | None = None
    if need_id is not None:
        need = session.get(CobuildingNeed, need_id)
        if need is None or need.community_id != community_id:
            raise NotFound("本社区没有这条需求")
        if need.status in ("met", "closed"):
            raise Conflict("需求已关闭", code="need_closed")
    now = clock.now()
    if not resource.active:
        raise Conflict("资源已下架", code="resource_withdrawn")
    held = session.execute(
        update(CobuildingResource)
        .where(
            CobuildingResource.id == resource.id,
            CobuildingResource.active.is_(True),
            CobuildingResource.available_until > now,
            CobuildingResource.reserved + quantity <= CobuildingResource.capacity,
        )
        .values(reserved=CobuildingResource.reserved + quantity)
        .returning(CobuildingResource.reserved, CobuildingResource.capacity)
    ).first()
    if held is None:
        session.refresh(resource)
        if resource.available_until <= now:
            raise Conflict("资源已过可用期，不能再下单", code="resource_expired")
        remaining = resource.capacity - resource.reserved
        raise Conflict(
            f"超出剩余数量：还剩 {remaining}{resource.unit_label}",
            code="over_capacity",
            details={"remaining": remaining},
        )
    session.refresh(resource)
    order = CobuildingOrder(
        resource_id=resource.id,
        unit_id=resource.unit_id,
        need_id=need.id if need else None,
        community_id=community_id,
        grid_id=(need.grid_id if need else None) or staff.grid_id,
        requester_staff_id=staff.id,
        quantity=quantity,
        beneficiaries=beneficiaries if beneficiaries is not None else (need.beneficiaries if need else 0),
        note=note,
        status="placed",
        placed_at=now,
        accept_due_at=add_working_minutes(session, now, ACCEPT_MINUTES),
    )
    session.add(order)
    if need is not None and need.status == "open":
        need.status = "ordered"
    session.flush()
    for level, fraction in ACCEPT_LADDER:
        due = order.accept_due_at if fraction >= 1 else add_working_minutes(session, now, ACCEPT_MINUTES * fraction)
        session.add(CobuildingReminder(order_id=order.id, level=level, due_at=due))
    session.flush()
    _tell_unit(session, order, resource, "placed", f"新订单待接单：{resource.title}")
    return Placed(order=order, remaining=int(held.capacity) - int(held.reserved))


def unit_logins(session: Session, unit_id: int) -> list[int]:
    """Staff ids of the 兼职委员 logins that act for a unit."""
    return list(
        session.scalars(
            select(CobuildingMember.staff_id)
            .join(Staff, Staff.id == CobuildingMember.staff_id)
            .where(CobuildingMember.unit_id == unit_id, Staff.active.is_(True))
            .order_by(CobuildingMember.staff_id)
        )
    )


def _tell_unit(session: Session, order: CobuildingOrder, resource: CobuildingResource, step: str, title: str) -> None:
    for staff_id in unit_logins(session, order.unit_id):
        notify.notify_staff(
            session,
            staff_id,
            key=f"cob-order-{order.id}-{step}",
            title=title,
            fields={
                "number": f"共建订单 {order.id}",
                "summary": resource.title,
                "deadline": notify.template_time(order.accept_due_at),
            },
            related=("cobuilding_order", order.id),
        )


def _tell_requester(session: Session, order: CobuildingOrder, step: str, title: str, note: str = "") -> None:
    resource = session.get(CobuildingResource, order.resource_id)
    notify.notify_staff(
        session,
        order.requester_staff_id,
        key=f"cob-order-{order.id}-{step}",
        title=title,
        fields={"number": f"共建订单 {order.id}", "summary": resource.title if resource else "", "note": note},
        related=("cobuilding_order", order.id),
    )


def visible(session: Session, staff: Staff) -> Select[tuple[CobuildingOrder]]:
    """Orders the caller may see: a unit its own; grid staff their grid's and their own; community staff all
    of their community's."""
    stmt = select(CobuildingOrder)
    if staff.role in units.CROSS_COMMUNITY_ROLES:
        return stmt
    if staff.role == units.UNIT_ROLE:
        unit = units.unit_of(session, staff)
        return stmt.where(CobuildingOrder.unit_id == (unit.id if unit else -1))
    stmt = stmt.where(CobuildingOrder.community_id == units.community_of(staff))
    if staff.role in ("grid_worker", "grid_leader"):
        stmt = stmt.where((CobuildingOrder.requester_staff_id == staff.id) | (CobuildingOrder.grid_id == staff.grid_id))
    elif staff.role not in units.COORDINATOR_ROLES:
        stmt = stmt.where(CobuildingOrder.requester_staff_id == staff.id)
    return stmt


def get(session: Session, staff: Staff, order_id: int, *, for_update: bool = False) -> CobuildingOrder:
    """One order the caller may see (404 otherwise, so another unit's order is not even revealed)."""
    stmt = visible(session, staff).where(CobuildingOrder.id == order_id)
    if for_update:
        stmt = stmt.with_for_update()
    order = session.scalar(stmt)
    if order is None:
        raise NotFound("没有这张共建订单")
    return order


def _require_own_unit(session: Session, staff: Staff, order: CobuildingOrder) -> CobuildingUnit:
    unit = units.require_unit(session, staff)
    if unit.id != order.unit_id:
        raise Forbidden("这不是本单位的订单")
    return unit


def _require_requester(staff: Staff, order: CobuildingOrder) -> None:
    if staff.id != order.requester_staff_id and not units.is_coordinator(staff, order.community_id):
        raise Forbidden("只有下单人或社区工作人员可以办理")


def _move(session: Session, order: CobuildingOrder, to: str, **values: Any) -> None:
    """Change the status if the state machine allows it and nobody changed it meanwhile."""
    current = order.status
    if to not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(f"订单{STATUS_LABELS[current]}，不能改为{STATUS_LABELS[to]}")
    done = session.execute(
        update(CobuildingOrder)
        .where(CobuildingOrder.id == order.id, CobuildingOrder.status == current)
        .values(status=to, updated_at=clock.now(), **values)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        raise InvalidTransition("订单状态已被他人更新，请刷新后再试")
    session.refresh(order)


def _release(session: Session, order: CobuildingOrder) -> None:
    session.execute(
        update(CobuildingResource)
        .where(CobuildingResource.id == order.resource_id)
        .values(reserved=CobuildingResource.reserved - order.quantity)
    )
    if order.need_id is not None:
        live = session.scalar(
            select(CobuildingOrder.id).where(
                CobuildingOrder.need_id == order.need_id,
                CobuildingOrder.id != order.id,
                CobuildingOrder.status.not_in(RELEASED_STATES),
            )
        )
        need = session.get(CobuildingNeed, order.need_id)
        if live is None and need is not None and need.status == "ordered":
            need.status = "open"
    session.flush()


def _cancel_ladder(session: Session, order: CobuildingOrder) -> None:
    session.execute(
        update(CobuildingReminder)
        .where(
            CobuildingReminder.order_id == order.id,
            CobuildingReminder.sent_at.is_(None),
            CobuildingReminder.cancelled_at.is_(None),
        )
        .values(cancelled_at=clock.now())
    )


def accept(session: Session, staff: Staff, order: CobuildingOrder) -> None:
    """接单: the order's own unit accepts it."""
    _require_own_unit(session, staff, order)
    _move(session, order, "accepted", accepted_at=clock.now())
    _cancel_ladder(session, order)
    _tell_requester(session, order, "accepted", "成员单位已接单")


def decline(session: Session, staff: Staff, order: CobuildingOrder, *, reason: str) -> None:
    """The order's own unit declines it, with a reason (refused without one); the capacity is given back."""
    _require_own_unit(session, staff, order)
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise DomainError("婉拒须写明原因", code="reason_required")
    _move(session, order, "declined", declined_at=clock.now(), decline_reason=reason)
    _release(session, order)
    _cancel_ladder(session, order)
    _tell_requester(session, order, "declined", "成员单位婉拒了订单", note=reason)


def cancel(session: Session, staff: Staff, order: CobuildingOrder) -> None:
    """The requester withdraws an order not yet scheduled; the capacity is given back."""
    _require_requester(staff, order)
    _move(session, order, "cancelled", cancelled_at=clock.now())
    _release(session, order)
    _cancel_ladder(session, order)


def schedule(session: Session, staff: Staff, order: CobuildingOrder, *, at: datetime) -> None:
    """The unit fixes when it delivers (within the resource's availability)."""
    _require_own_unit(session, staff, order)
    resource = session.get(CobuildingResource, order.resource_id)
    assert resource is not None
    if not resource.available_from <= at <= resource.available_until:
        raise DomainError("排期须在资源的可用时间内", code="outside_window")
    _move(session, order, "scheduled", scheduled_for=at)
    _tell_requester(session, order, "scheduled", "成员单位已排期", note=notify.template_time(at))


def deliver(session: Session, staff: Staff, order: CobuildingOrder) -> None:
    """The unit reports the resource delivered (the activity held, the goods handed over …)."""
    _require_own_unit(session, staff, order)
    _move(session, order, "delivered", delivered_at=clock.now())
    _tell_requester(session, order, "delivered", "成员单位已交付，请确认")


def confirm(session: Session, staff: Staff, order: CobuildingOrder) -> bool:
    """One side confirms delivery; the order is confirmed once both have. Returns True when it now is."""
    if order.status != "delivered":
        raise InvalidTransition(f"订单{STATUS_LABELS[order.status]}，不能确认")
    now = clock.now()
    own = units.unit_of(session, staff)
    if own is not None:
        if own.id != order.unit_id:
            raise Forbidden("这不是本单位的订单")
        if order.unit_confirmed_at is not None:
            raise Conflict("本单位已确认", code="already_confirmed")
        field = "unit_confirmed_at"
    else:
        _require_requester(staff, order)
        if order.requester_confirmed_at is not None:
            raise Conflict("需求方已确认", code="already_confirmed")
        field = "requester_confirmed_at"
    session.execute(
        update(CobuildingOrder)
        .where(CobuildingOrder.id == order.id, getattr(CobuildingOrder, field).is_(None))
        .values({field: now})
    )
    session.refresh(order)
    if order.unit_confirmed_at is not None and order.requester_confirmed_at is not None:
        _move(session, order, "confirmed", confirmed_at=now)
        return True
    return False


def evaluate(session: Session, staff: Staff, order: CobuildingOrder, *, score: int, text: str = "",
             beneficiaries: int | None = None) -> None:  # fmt: skip
    """The requester evaluates a confirmed order (1–5), with the beneficiaries actually reached."""
    _require_requester(staff, order)
    if not 1 <= score <= 5:
        raise DomainError("评分须为 1 到 5", code="bad_score")
    if beneficiaries is not None and beneficiaries < 0:
        raise DomainError("受益人数不能为负", code="bad_beneficiaries")
    values: dict[str, Any] = {"score": score, "evaluation": text, "evaluated_at": clock.now()}
    if beneficiaries is not None:
        values["beneficiaries"] = beneficiaries
    _move(session, order, "evaluated", **values)
    if order.need_id is not None:
        need = session.get(CobuildingNeed, order.need_id)
        if need is not None and need.status in ("open", "ordered"):
            need.status = "met"
            session.flush()


def allowed_actions(session: Session, staff: Staff, order: CobuildingOrder) -> list[str]:
    """What the caller may do next with the order."""
    own = units.unit_of(session, staff)
    is_unit = own is not None and own.id == order.unit_id
    is_requester = staff.id == order.requester_staff_id or units.is_coordinator(staff, order.community_id)
    actions: list[str] = []
    if is_unit and order.status == "placed":
        actions += ["accept", "decline"]
    if is_requester and order.status in ("placed", "accepted"):
        actions.append("cancel")
    if is_unit and order.status == "accepted":
        actions.append("schedule")
    if is_unit and order.status == "scheduled":
        actions.append("deliver")
    if order.status == "delivered" and (
        (is_unit and order.unit_confirmed_at is None) or (is_requester and order.requester_confirmed_at is None)
    ):
        actions.append("confirm")
    if is_requester and order.status == "confirmed":
        actions.append("evaluate")
    return actions


def view(session: Session, staff: Staff, order: CobuildingOrder) -> dict[str, Any]:
    """An order as shown to the caller."""
    resource = session.get(CobuildingResource, order.resource_id)
    unit = session.get(CobuildingUnit, order.unit_id)
    assert resource is not None
    assert unit is not None

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": order.id,
        "resource_id": order.resource_id,
        "resource_title": resource.title,
        "unit_id": order.unit_id,
        "unit_name": unit.name,
        "need_id": order.need_id,
        "community_id": order.community_id,
        "grid_id": order.grid_id,
        "requester_staff_id": order.requester_staff_id,
        "quantity": order.quantity,
        "beneficiaries": order.beneficiaries,
        "note": order.note,
        "status": order.status,
        "status_label": STATUS_LABELS[order.status],
        "placed_at": iso(order.placed_at),
        "accept_due_at": iso(order.accept_due_at),
        "escalated": order.escalated,
        "decline_reason": order.decline_reason,
        "scheduled_for": iso(order.scheduled_for),
        "delivered_at": iso(order.delivered_at),
        "unit_confirmed_at": iso(order.unit_confirmed_at),
        "requester_confirmed_at": iso(order.requester_confirmed_at),
        "score": order.score,
        "evaluation": order.evaluation,
        "allowed_actions": allowed_actions(session, staff, order),
    }


# ---------------------------------------------------------------- the acceptance ladder


def due_reminders(session: Session, now: datetime, limit: int = 500) -> list[CobuildingReminder]:
    """Ladder steps that are due and neither sent nor cancelled, oldest first."""
    return list(
        session.scalars(
            select(CobuildingReminder)
            .where(
                CobuildingReminder.sent_at.is_(None),
                CobuildingReminder.cancelled_at.is_(None),
                CobuildingReminder.due_at <= now,
            )
            .order_by(CobuildingReminder.due_at, CobuildingReminder.id)
            .limit(limit)
        )
    )


def job_id(order_id: int, level: str) -> str:
    """The stable RQ job id of one ladder step."""
    return f"cobuilding-order-{order_id}-{level}"


def run_step(session: Session, order_id: int, level: str) -> str:
    """Run one ladder step once: remind the unit, or tell the secretary the order is overdue."""
    now = clock.now()
    claimed = session.execute(
        update(CobuildingReminder)
        .where(
            CobuildingReminder.order_id == order_id,
            CobuildingReminder.level == level,
            CobuildingReminder.sent_at.is_(None),
            CobuildingReminder.cancelled_at.is_(None),
        )
        .values(sent_at=now)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return "already done"
    order = session.get(CobuildingOrder, order_id)
    if order is None or order.status != "placed":
        session.execute(
            update(CobuildingReminder)
            .where(CobuildingReminder.order_id == order_id, CobuildingReminder.level == level)
            .values(sent_at=None, cancelled_at=now)
        )
        return "answered"
    resource = session.get(CobuildingResource, order.resource_id)
    assert resource is not None
    if level == "remind":
        _tell_unit(session, order, resource, "remind", f"订单即将超时，请尽快接单：{resource.title}")
        return "reminded"
    order.escalated = True
    _tell_unit(session, order, resource, "overdue", f"订单已超时未接单：{resource.title}")
    for staff_id in session.scalars(
        select(Staff.id)
        .where(
            Staff.community_id == order.community_id,
            Staff.role == "community_secretary",
            Staff.active.is_(True),
        )
        .order_by(Staff.id)
    ):
        notify.notify_staff(
            session,
            staff_id,
            key=f"cob-order-{order.id}-escalated",
            title="共建订单超时未接单",
            fields={
                "number": f"共建订单 {order.id}",
                "summary": resource.title,
                "deadline": notify.template_time(order.accept_due_at),
            },
            related=("cobuilding_order", order.id),
            urgent=False,
        )
    session.flush()
    return "escalated"
