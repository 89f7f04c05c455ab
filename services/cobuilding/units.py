"""Member units of a community's 大党委, their 兼职委员, and who may do what in co-building.

Community roles (社区工作人员, 书记, admin) manage the member list of their own community; a `member_unit`
staff login acts for exactly the unit whose 兼职委员 row names it, and sees that unit's resources, orders and
evaluations only. Grid staff and community staff place orders and post needs.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import privacy
from models.cobuilding import UNIT_KINDS, CobuildingMember, CobuildingUnit
from models.org import Community
from models.staff import Staff
from services.errors import DomainError, Forbidden, NotFound

UNIT_ROLE = "member_unit"
# Roles that manage a community's 大党委: units, needs, projects; they also see every order of the community.
COORDINATOR_ROLES = frozenset({"community_staff", "community_secretary", "street_officer", "admin"})
# Roles that order resources for a community or a grid branch (the grid branch secretary is the grid leader).
REQUESTER_ROLES = frozenset({"grid_worker", "grid_leader", *COORDINATOR_ROLES})
# Roles that see every community (the street office and administrators).
CROSS_COMMUNITY_ROLES = frozenset({"street_officer", "admin"})

KIND_LABELS = {
    "agency": "机关单位",
    "state_owned": "国有企业",
    "business": "非公企业",
    "school": "学校",
    "social_org": "社会组织",
    "other": "其他",
}


def is_coordinator(staff: Staff, community_id: int) -> bool:
    """True when `staff` manages the 大党委 of `community_id`."""
    if staff.role not in COORDINATOR_ROLES:
        return False
    return staff.role in CROSS_COMMUNITY_ROLES or staff.community_id == community_id


def require_coordinator(staff: Staff, community_id: int) -> None:
    """Forbidden unless `staff` manages the 大党委 of `community_id`."""
    if not is_coordinator(staff, community_id):
        raise Forbidden("只有本社区大党委的工作人员可以管理共建")


def community_of(staff: Staff) -> int:
    """The community a staff member works for (a clear error when the row names none)."""
    if staff.community_id is None:
        raise DomainError("该工作人员没有所属社区", code="no_community")
    return staff.community_id


def unit_of(session: Session, staff: Staff) -> CobuildingUnit | None:
    """The member unit a `member_unit` login acts for (None for every other role or a lapsed 兼职委员)."""
    if staff.role != UNIT_ROLE:
        return None
    return session.scalar(
        select(CobuildingUnit)
        .join(CobuildingMember, CobuildingMember.unit_id == CobuildingUnit.id)
        .where(CobuildingMember.staff_id == staff.id, CobuildingUnit.active.is_(True))
    )


def require_unit(session: Session, staff: Staff) -> CobuildingUnit:
    """The unit of a `member_unit` login; Forbidden for anyone else."""
    unit = unit_of(session, staff)
    if unit is None:
        raise Forbidden("只有成员单位的兼职委员可以办理本单位的接单")
    return unit


def create_unit(
    session: Session,
    staff: Staff,
    *,
    community_id: int,
    code: str,
    name: str,
    kind: str,
    member_from: date,
    member_until: date | None = None,
    contact_name: str = "",
    contact_phone: str = "",
    address: str = "",
) -> CobuildingUnit:
    """Add a member unit to a community's 大党委."""
    require_coordinator(staff, community_id)
    if session.get(Community, community_id) is None:
        raise NotFound("社区不存在")
    if kind not in UNIT_KINDS:
        raise DomainError(f"单位类型须为：{'、'.join(UNIT_KINDS)}", code="bad_kind")
    if member_until is not None and member_until < member_from:
        raise DomainError("成员期限的结束日期早于开始日期", code="bad_period")
    if session.scalar(select(CobuildingUnit.id).where(CobuildingUnit.code == code)) is not None:
        raise DomainError("单位编码已存在", code="duplicate_code")
    unit = CobuildingUnit(
        community_id=community_id,
        code=code,
        name=name,
        kind=kind,
        member_from=member_from,
        member_until=member_until,
        contact_name=contact_name,
        contact_phone=contact_phone,
        address=address,
    )
    session.add(unit)
    session.flush()
    return unit


def update_unit(
    session: Session,
    staff: Staff,
    unit: CobuildingUnit,
    *,
    name: str,
    kind: str,
    member_from: date,
    member_until: date | None = None,
    contact_name: str = "",
    contact_phone: str = "",
    address: str = "",
) -> CobuildingUnit:
    """Change a member unit's particulars or membership period (its code stays)."""
    require_coordinator(staff, unit.community_id)
    if kind not in UNIT_KINDS:
        raise DomainError(f"单位类型须为：{'、'.join(UNIT_KINDS)}", code="bad_kind")
    if member_until is not None and member_until < member_from:
        raise DomainError("成员期限的结束日期早于开始日期", code="bad_period")
    unit.name, unit.kind, unit.member_from, unit.member_until = name, kind, member_from, member_until
    unit.contact_name, unit.contact_phone, unit.address = contact_name, contact_phone, address
    session.flush()
    return unit


def add_member(
    session: Session,
    staff: Staff,
    unit: CobuildingUnit,
    *,
    name: str,
    serves_from: date,
    post: str = "兼职委员",
    phone: str = "",
    staff_id: int | None = None,
    serves_until: date | None = None,
) -> CobuildingMember:
    """Record a 兼职委员 the unit sends; with `staff_id`, that login (role member_unit) acts for the unit."""
    require_coordinator(staff, unit.community_id)
    if staff_id is not None:
        login = session.get(Staff, staff_id)
        if login is None:
            raise NotFound("工作人员不存在")
        if login.role != UNIT_ROLE:
            raise DomainError("代表成员单位的账号须为 member_unit 角色", code="bad_role")
        if session.scalar(select(CobuildingMember.id).where(CobuildingMember.staff_id == staff_id)) is not None:
            raise DomainError("该账号已代表一家成员单位", code="already_member")
    member = CobuildingMember(
        unit_id=unit.id,
        name=name,
        post=post,
        phone=phone,
        staff_id=staff_id,
        serves_from=serves_from,
        serves_until=serves_until,
    )
    session.add(member)
    session.flush()
    return member


def create_login(session: Session, staff: Staff, member: CobuildingMember) -> Staff:
    """Give a 兼职委员 without one a `member_unit` console login that acts for the unit."""
    unit = session.get(CobuildingUnit, member.unit_id)
    assert unit is not None
    require_coordinator(staff, unit.community_id)
    if member.staff_id is not None:
        raise DomainError("这位兼职委员已有登录账号", code="already_member")
    login = Staff(name=member.name, role=UNIT_ROLE, community_id=unit.community_id, phone=member.phone or None)
    session.add(login)
    session.flush()
    member.staff_id = login.id
    session.flush()
    return login


def get_member(session: Session, staff: Staff, unit: CobuildingUnit, member_id: int) -> CobuildingMember:
    """One 兼职委员 of a unit the caller coordinates (404 otherwise)."""
    require_coordinator(staff, unit.community_id)
    member = session.get(CobuildingMember, member_id)
    if member is None or member.unit_id != unit.id:
        raise NotFound("这家单位没有这位兼职委员")
    return member


def get_unit(session: Session, staff: Staff, unit_id: int) -> CobuildingUnit:
    """A unit the caller may see: its own (member_unit) or one of a community it coordinates or orders for."""
    unit = session.get(CobuildingUnit, unit_id)
    if unit is None or not can_see_unit(session, staff, unit):
        raise NotFound("没有这家成员单位")
    return unit


def can_see_unit(session: Session, staff: Staff, unit: CobuildingUnit) -> bool:
    """Whether `staff` may see `unit` at all."""
    if staff.role == UNIT_ROLE:
        own = unit_of(session, staff)
        return own is not None and own.id == unit.id
    return staff.role in CROSS_COMMUNITY_ROLES or staff.community_id == unit.community_id


def list_units(session: Session, staff: Staff, *, community_id: int | None = None) -> list[CobuildingUnit]:
    """Member units the caller may see, by name."""
    stmt = select(CobuildingUnit).order_by(CobuildingUnit.name, CobuildingUnit.id)
    if staff.role == UNIT_ROLE:
        own = unit_of(session, staff)
        return [own] if own is not None else []
    if staff.role not in CROSS_COMMUNITY_ROLES:
        stmt = stmt.where(CobuildingUnit.community_id == community_of(staff))
    elif community_id is not None:
        stmt = stmt.where(CobuildingUnit.community_id == community_id)
    return list(session.scalars(stmt))


def members(session: Session, unit: CobuildingUnit) -> list[CobuildingMember]:
    """The 兼职委员 of a unit."""
    return list(
        session.scalars(
            select(CobuildingMember).where(CobuildingMember.unit_id == unit.id).order_by(CobuildingMember.id)
        )
    )


def is_member_on(unit: CobuildingUnit, day: date) -> bool:
    """True when `day` lies within the unit's membership period."""
    return unit.active and unit.member_from <= day and (unit.member_until is None or day <= unit.member_until)


def unit_view(session: Session, unit: CobuildingUnit, *, full: bool) -> dict[str, Any]:
    """A unit as shown: the contact phone masked unless `full` (the unit itself and its coordinators)."""
    phone = unit.contact_phone if full else privacy.mask_phone(unit.contact_phone)
    return {
        "id": unit.id,
        "community_id": unit.community_id,
        "code": unit.code,
        "name": unit.name,
        "kind": unit.kind,
        "kind_label": KIND_LABELS[unit.kind],
        "contact_name": unit.contact_name,
        "contact_phone": phone,
        "member_from": unit.member_from.isoformat(),
        "member_until": unit.member_until.isoformat() if unit.member_until else None,
        "active": unit.active,
        "members": [
            {
                "id": m.id,
                "name": m.name,
                "post": m.post,
                "phone": m.phone if full else privacy.mask_phone(m.phone),
                "serves_from": m.serves_from.isoformat(),
                "serves_until": m.serves_until.isoformat() if m.serves_until else None,
            }
            for m in members(session, unit)
        ],
    }
