"""Where a proposal, a ballot or a council applies (building / estate / community) and who lives there.

A resident counts as verified for a scope when bound to a building of it (QR code, chat or location binding in
`services.organisation.residents`) and not erased; a household is a bound building + room.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from models.org import Building, Estate
from models.resident import Resident
from models.staff import Staff
from services.errors import Conflict, DomainError, Forbidden

SCOPES = ("building", "estate", "community")
# Staff who run participation in their community: screening, ballots, funding, councils.
ORGANISER_ROLES = ("community_staff", "community_secretary", "street_officer", "admin")


@dataclass(frozen=True)
class Scope:
    """A community, optionally narrowed to one estate or one building."""

    community_id: int
    scope: str
    estate_id: int | None = None
    building_id: int | None = None


def check_organiser(staff: Staff, community_id: int | None = None) -> int:
    """The staff member's community, when their role may organise participation there (403 otherwise)."""
    if staff.role not in ORGANISER_ROLES:
        raise Forbidden("您的角色不能组织居民议事和微实事", code="role_not_allowed")
    if staff.community_id is None:
        raise Forbidden("您还没有归属社区")
    if community_id is not None and community_id != staff.community_id:
        raise Forbidden("不在您的社区", code="out_of_scope")
    return staff.community_id


def resolve(
    session: Session, community_id: int, scope: str, *, estate_id: int | None, building_id: int | None
) -> Scope:
    """Validate a scope inside a community: an estate scope names an estate of it, a building scope a building."""
    if scope not in SCOPES:
        raise DomainError(f"未知的范围 {scope!r}（building / estate / community）", code="invalid_scope")
    if scope == "community":
        return Scope(community_id, scope)
    if scope == "building":
        building = session.get(Building, building_id) if building_id else None
        estate = session.get(Estate, building.estate_id) if building is not None else None
        if estate is None or estate.community_id != community_id:
            raise DomainError("社区里没有这栋楼", code="invalid_building")
        return Scope(community_id, scope, estate_id=estate.id, building_id=building.id)  # type: ignore[union-attr]
    estate = session.get(Estate, estate_id) if estate_id else None
    if estate is None or estate.community_id != community_id:
        raise DomainError("社区里没有这个小区", code="invalid_estate")
    return Scope(community_id, scope, estate_id=estate.id)


def of_resident(session: Session, resident: Resident, scope: str) -> Scope:
    """The resident's own building, estate or community (409 when not bound to a building)."""
    if resident.erased_at is not None or resident.community_id is None or resident.building_id is None:
        raise Conflict("请先绑定您住的小区和楼栋", code="not_bound")
    building = session.get(Building, resident.building_id)
    assert building is not None  # foreign key
    if scope == "building":
        return Scope(resident.community_id, scope, estate_id=building.estate_id, building_id=building.id)
    if scope == "estate":
        return Scope(resident.community_id, scope, estate_id=building.estate_id)
    if scope == "community":
        return Scope(resident.community_id, scope)
    raise DomainError(f"未知的范围 {scope!r}（building / estate / community）", code="invalid_scope")


def residents_in(where: Scope) -> Select[tuple[Resident]]:
    """Verified residents of the scope: bound to one of its buildings, not erased."""
    stmt = (
        select(Resident)
        .join(Building, Building.id == Resident.building_id)
        .where(Resident.community_id == where.community_id, Resident.erased_at.is_(None))
    )
    if where.building_id is not None:
        stmt = stmt.where(Resident.building_id == where.building_id)
    elif where.estate_id is not None:
        stmt = stmt.where(Building.estate_id == where.estate_id)
    return stmt


def contains(session: Session, where: Scope, resident: Resident) -> bool:
    """True when the resident is a verified resident of the scope."""
    if resident.erased_at is not None or resident.building_id is None or resident.community_id != where.community_id:
        return False
    if where.building_id is not None:
        return resident.building_id == where.building_id
    if where.estate_id is not None:
        building = session.get(Building, resident.building_id)
        return building is not None and building.estate_id == where.estate_id
    return True


def within(inner: Scope, outer: Scope) -> bool:
    """True when `inner` (a proposal's scope) lies inside `outer` (a ballot's scope)."""
    if inner.community_id != outer.community_id:
        return False
    if outer.building_id is not None:
        return inner.building_id == outer.building_id
    if outer.estate_id is not None:
        return inner.estate_id == outer.estate_id
    return True
