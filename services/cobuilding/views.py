"""Lists and details of co-building as both staff surfaces show them (console and mini-program), with contacts
masked for anyone who is neither the unit itself nor a coordinator of its community."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.orm import Session

from infra import clock
from models.cobuilding import CobuildingNeed, CobuildingOrder, CobuildingProject, CobuildingResource, CobuildingUnit
from models.staff import Staff
from services.cobuilding import needs, orders, projects, resources, units


def _full_view(session: Session, staff: Staff, unit: CobuildingUnit) -> bool:
    own = units.unit_of(session, staff)
    return (own is not None and own.id == unit.id) or units.is_coordinator(staff, unit.community_id)


def unit_detail(session: Session, staff: Staff, unit: CobuildingUnit) -> dict[str, Any]:
    """A unit as the caller may see it."""
    return units.unit_view(session, unit, full=_full_view(session, staff, unit))


def unit_list(session: Session, staff: Staff, *, community_id: int | None = None) -> dict[str, Any]:
    """The member units the caller may see."""
    return {
        "items": [unit_detail(session, staff, u) for u in units.list_units(session, staff, community_id=community_id)]
    }


def _page(session: Session, stmt: Any, limit: int, offset: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(session.scalars(stmt.limit(limit).offset(offset))), total


def resource_detail(session: Session, staff: Staff, resource: CobuildingResource) -> dict[str, Any]:
    """A resource as the caller may see it."""
    unit = session.get(CobuildingUnit, resource.unit_id)
    assert unit is not None
    served = resources.served_communities(session, [resource.id]).get(resource.id, [])
    return resources.view(resource, unit, served, full=_full_view(session, staff, unit))


def _matching(columns: tuple[Any, ...], q: str | None) -> Any:
    """Rows whose text columns contain every word of a search (case-insensitive)."""
    words = (q or "").split()[:5]
    return and_(true(), *(or_(*(c.ilike(f"%{w}%") for c in columns)) for w in words))


def resource_list(
    session: Session,
    staff: Staff,
    *,
    kind: str | None,
    orderable: bool,
    unit_id: int | None,
    limit: int,
    offset: int,
    q: str | None = None,
) -> dict[str, Any]:
    """A page of the resources the caller may see, newest first (searched by title and description)."""
    stmt = resources.visible(session, staff).where(
        _matching((CobuildingResource.title, CobuildingResource.description), q)
    )
    if orderable:
        stmt = resources.orderable(stmt, clock.now())
    if kind:
        stmt = stmt.where(CobuildingResource.kind == kind)
    if unit_id:
        stmt = stmt.where(CobuildingResource.unit_id == unit_id)
    rows, total = _page(session, stmt.order_by(CobuildingResource.id.desc()), limit, offset)
    return {"items": [resource_detail(session, staff, r) for r in rows], "total": total}


def need_list(
    session: Session,
    staff: Staff,
    *,
    status: str | None,
    limit: int,
    offset: int,
    kind: str | None = None,
    q: str | None = None,
) -> dict[str, Any]:
    """A page of the needs the caller may see, newest first (searched by title and description)."""
    stmt = needs.visible(session, staff).where(_matching((CobuildingNeed.title, CobuildingNeed.description), q))
    if status:
        stmt = stmt.where(CobuildingNeed.status == status)
    if kind:
        stmt = stmt.where(CobuildingNeed.kind == kind)
    rows, total = _page(session, stmt.order_by(CobuildingNeed.id.desc()), limit, offset)
    return {"items": [needs.view(n) for n in rows], "total": total}


def order_list(session: Session, staff: Staff, *, status: str | None, limit: int, offset: int) -> dict[str, Any]:
    """A page of the orders the caller may see, newest first."""
    stmt = orders.visible(session, staff)
    if status:
        stmt = stmt.where(CobuildingOrder.status == status)
    rows, total = _page(session, stmt.order_by(CobuildingOrder.id.desc()), limit, offset)
    return {"items": [orders.view(session, staff, o) for o in rows], "total": total}


def project_list(session: Session, staff: Staff, *, limit: int, offset: int) -> dict[str, Any]:
    """A page of the projects the caller may see, newest first."""
    rows, total = _page(session, projects.visible(session, staff).order_by(CobuildingProject.id.desc()), limit, offset)
    return {"items": [projects.view(session, p) for p in rows], "total": total}
