"""The resource list (资源清单): what member units offer, how much of it is left, when and where it is available."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy import update as sa_update
from sqlalchemy.orm import Session

from infra import clock, privacy
from models.cobuilding import RESOURCE_KINDS, CobuildingResource, CobuildingResourceCommunity, CobuildingUnit
from models.org import Community
from models.staff import Staff
from services.cobuilding import units
from services.errors import DomainError, Forbidden, NotFound

KIND_LABELS = {
    "activity": "活动",
    "venue": "场地",
    "service": "服务",
    "expertise": "专长",
    "funding": "资金",
    "goods": "物资",
}


def publish(
    session: Session,
    staff: Staff,
    unit: CobuildingUnit,
    *,
    kind: str,
    title: str,
    description: str,
    capacity: int,
    available_from: datetime,
    available_until: datetime,
    community_ids: Iterable[int] = (),
    unit_label: str = "次",
    contact_name: str = "",
    contact_phone: str = "",
) -> CobuildingResource:
    """A unit publishes a resource (its own 兼职委员, or a coordinator of its community on its behalf)."""
    own = units.unit_of(session, staff)
    if (own is None or own.id != unit.id) and not units.is_coordinator(staff, unit.community_id):
        raise Forbidden("只能发布本单位的资源")
    if kind not in RESOURCE_KINDS:
        raise DomainError(f"资源类型须为：{'、'.join(KIND_LABELS.values())}", code="bad_kind")
    if capacity < 1:
        raise DomainError("数量或容量至少为 1", code="bad_capacity")
    if available_until <= available_from:
        raise DomainError("可用时间的结束早于开始", code="bad_window")
    served = sorted(set(community_ids) or {unit.community_id})
    known = set(session.scalars(select(Community.id).where(Community.id.in_(served))))
    if known != set(served):
        raise NotFound("服务社区不存在")
    resource = CobuildingResource(
        unit_id=unit.id,
        kind=kind,
        title=title,
        description=description,
        capacity=capacity,
        reserved=0,
        unit_label=unit_label,
        available_from=available_from,
        available_until=available_until,
        contact_name=contact_name or unit.contact_name,
        contact_phone=contact_phone or unit.contact_phone,
    )
    session.add(resource)
    session.flush()
    session.add_all(CobuildingResourceCommunity(resource_id=resource.id, community_id=c) for c in served)
    session.flush()
    return resource


def update(
    session: Session,
    staff: Staff,
    resource: CobuildingResource,
    *,
    title: str,
    description: str,
    capacity: int,
    available_from: datetime,
    available_until: datetime,
    community_ids: Iterable[int] = (),
    unit_label: str = "次",
    contact_name: str = "",
    contact_phone: str = "",
) -> CobuildingResource:
    """Edit a listed resource (its unit or a coordinator); capacity never below what orders already hold."""
    unit = session.get(CobuildingUnit, resource.unit_id)
    assert unit is not None
    own = units.unit_of(session, staff)
    if (own is None or own.id != unit.id) and not units.is_coordinator(staff, unit.community_id):
        raise Forbidden("只能修改本单位的资源")
    if available_until <= available_from:
        raise DomainError("可用时间的结束早于开始", code="bad_window")
    if capacity < 1:
        raise DomainError("数量或容量至少为 1", code="bad_capacity")
    served = sorted(set(community_ids) or {unit.community_id})
    known = set(session.scalars(select(Community.id).where(Community.id.in_(served))))
    if known != set(served):
        raise NotFound("服务社区不存在")
    # The new capacity is checked against the counter in the same UPDATE, so an order placed meanwhile counts.
    done = session.execute(
        sa_update(CobuildingResource)
        .where(CobuildingResource.id == resource.id, CobuildingResource.reserved <= capacity)
        .values(capacity=capacity)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        session.refresh(resource)
        raise DomainError(f"数量或容量不能少于已被订走的 {resource.reserved}{resource.unit_label}", code="bad_capacity")
    session.refresh(resource)
    resource.title, resource.description, resource.unit_label = title, description, unit_label
    resource.available_from, resource.available_until = available_from, available_until
    resource.contact_name = contact_name or unit.contact_name
    resource.contact_phone = contact_phone or unit.contact_phone
    session.execute(delete(CobuildingResourceCommunity).where(CobuildingResourceCommunity.resource_id == resource.id))
    session.add_all(CobuildingResourceCommunity(resource_id=resource.id, community_id=c) for c in served)
    session.flush()
    return resource


def withdraw(session: Session, staff: Staff, resource: CobuildingResource) -> None:
    """Take a resource off the list (orders already placed keep their course)."""
    unit = session.get(CobuildingUnit, resource.unit_id)
    assert unit is not None
    own = units.unit_of(session, staff)
    if (own is None or own.id != unit.id) and not units.is_coordinator(staff, unit.community_id):
        raise Forbidden("只能下架本单位的资源")
    resource.active = False
    session.flush()


def served_communities(session: Session, resource_ids: Iterable[int]) -> dict[int, list[int]]:
    """Community ids each resource serves."""
    out: dict[int, list[int]] = {}
    ids = list(resource_ids)
    if not ids:
        return out
    rows = session.execute(
        select(CobuildingResourceCommunity.resource_id, CobuildingResourceCommunity.community_id)
        .where(CobuildingResourceCommunity.resource_id.in_(ids))
        .order_by(CobuildingResourceCommunity.community_id)
    )
    for rid, cid in rows:
        out.setdefault(rid, []).append(cid)
    return out


def visible(session: Session, staff: Staff) -> Select[tuple[CobuildingResource]]:
    """Resources the caller may list: a unit its own; everyone else those serving their community."""
    stmt = select(CobuildingResource)
    own = units.unit_of(session, staff)
    if staff.role == units.UNIT_ROLE:
        return stmt.where(CobuildingResource.unit_id == (own.id if own else -1))
    if staff.role in units.CROSS_COMMUNITY_ROLES:
        return stmt
    served = select(CobuildingResourceCommunity.resource_id).where(
        CobuildingResourceCommunity.community_id == units.community_of(staff)
    )
    return stmt.where(CobuildingResource.id.in_(served))


def orderable(stmt: Select[Any], now: datetime) -> Select[Any]:
    """Only resources that can be ordered now: listed, not expired, with something left."""
    return stmt.where(
        CobuildingResource.active.is_(True),
        CobuildingResource.available_until > now,
        CobuildingResource.reserved < CobuildingResource.capacity,
    )


def get(session: Session, staff: Staff, resource_id: int) -> CobuildingResource:
    """One resource the caller may see (404 otherwise)."""
    resource = session.scalar(visible(session, staff).where(CobuildingResource.id == resource_id))
    if resource is None:
        raise NotFound("没有这项资源")
    return resource


def view(resource: CobuildingResource, unit: CobuildingUnit, communities: list[int], *, full: bool) -> dict[str, Any]:
    """A resource as shown; the contact phone is masked unless `full`."""
    now = clock.now()
    return {
        "id": resource.id,
        "unit_id": unit.id,
        "unit_name": unit.name,
        "kind": resource.kind,
        "kind_label": KIND_LABELS[resource.kind],
        "title": resource.title,
        "description": resource.description,
        "capacity": resource.capacity,
        "remaining": resource.capacity - resource.reserved,
        "unit_label": resource.unit_label,
        "available_from": resource.available_from.isoformat(),
        "available_until": resource.available_until.isoformat(),
        "expired": resource.available_until <= now,
        "communities": communities,
        "contact_name": resource.contact_name,
        "contact_phone": resource.contact_phone if full else privacy.mask_phone(resource.contact_phone),
        "active": resource.active,
    }
