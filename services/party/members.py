"""党员报到 (registration, staff verify, per-grid branch lists) and 党员联户 (households and their coverage)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra import clock, privacy
from models.org import Building, Grid
from models.party import PARTY_CATEGORIES, PartyHousehold, PartyMember
from models.resident import Resident
from models.staff import Staff
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound
from services.notifications import notify
from services.organisation.organisers import ORGANISER_ROLES, may_follow, organiser


def register(session: Session, resident_id: int, *, category: str, organisation: str) -> PartyMember:
    """A party member registers with the community where they live; staff verify it."""
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound("居民不存在")
    if resident.community_id is None:
        raise Conflict("请先绑定所在社区再报到", code="no_community")
    if category not in PARTY_CATEGORIES:
        raise DomainError(f"党员类别须为：{'、'.join(PARTY_CATEGORIES)}", code="bad_category")
    organisation = (organisation or "").strip()
    if not organisation:
        raise DomainError("请填写所在党组织名称", code="organisation_required")
    row = session.scalar(select(PartyMember).where(PartyMember.resident_id == resident_id))
    if row is not None and row.status != "rejected":
        raise Conflict("您已报到" if row.status == "verified" else "您的报到正在审核中", code="already_registered")
    if row is None:
        row = PartyMember(resident_id=resident_id, community_id=resident.community_id)
        session.add(row)
    row.community_id, row.grid_id = resident.community_id, resident.grid_id
    row.category, row.organisation, row.status = category, organisation[:100], "pending"
    row.verified_by_staff_id = row.verified_at = None
    session.flush()
    return row


def _lock(session: Session, member_id: int) -> PartyMember:
    row = session.scalar(
        select(PartyMember)
        .where(PartyMember.id == member_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("党员报到记录不存在")
    return row


def verify(session: Session, member_id: int, staff_id: int, *, accept: bool = True, reason: str = "") -> PartyMember:
    """Staff verify a registration, or reject it with the reason the member is told."""
    reason = (reason or "").strip()
    if not accept and not reason:
        raise DomainError("请填写未能核实的原因", code="reason_required")
    row = _lock(session, member_id)
    organiser(session, staff_id, row.community_id, row.grid_id)
    if row.status != "pending":
        raise InvalidTransition("该报到已审核")
    row.status = "verified" if accept else "rejected"
    row.verified_by_staff_id, row.verified_at = staff_id, clock.now()
    session.flush()
    text = (
        "您的党员报到已核实，欢迎参与社区网格党支部的活动。"
        if accept
        else f"您的党员报到未能核实：{reason[:300]}。如有疑问请联系社区党委。"
    )
    notify.notify_resident(session, row.resident_id, text, key=f"party-register-{row.id}-{row.status}")
    return row


def pending(session: Session, staff_id: int, *, limit: int = 100) -> list[tuple[PartyMember, Resident]]:
    """Registrations waiting for verification that the staff member may verify (grid staff: their grid's)."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.role not in ORGANISER_ROLES or staff.community_id is None:
        raise Forbidden("需要社区工作人员身份", code="not_organiser")
    stmt = (
        select(PartyMember, Resident)
        .join(Resident, Resident.id == PartyMember.resident_id)
        .where(PartyMember.community_id == staff.community_id, PartyMember.status == "pending")
    )
    if staff.role in ("grid_worker", "grid_leader"):
        stmt = stmt.where(PartyMember.grid_id == staff.grid_id)
    return [(m, r) for m, r in session.execute(stmt.order_by(PartyMember.id).limit(limit))]


def verified_for_staff(session: Session, staff_id: int) -> list[tuple[PartyMember, Resident]]:
    """Verified members the staff member organises (grid staff: their grid's), to pick for 联户 and 行动支部."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.role not in ORGANISER_ROLES or staff.community_id is None:
        raise Forbidden("需要社区工作人员身份", code="not_organiser")
    stmt = (
        select(PartyMember, Resident)
        .join(Resident, Resident.id == PartyMember.resident_id)
        .where(PartyMember.community_id == staff.community_id, PartyMember.status == "verified")
    )
    if staff.role in ("grid_worker", "grid_leader"):
        stmt = stmt.where(PartyMember.grid_id == staff.grid_id)
    return [(m, r) for m, r in session.execute(stmt.order_by(PartyMember.id))]


def branch_for_staff(session: Session, staff_id: int, grid_id: int) -> list[BranchMember]:
    """A grid branch's verified members, for staff who may see that grid (masked as in every list)."""
    grid = session.get(Grid, grid_id)
    if grid is None:
        raise NotFound("网格不存在")
    if not may_follow(session.get(Staff, staff_id), grid.community_id, grid.id):
        raise Forbidden("无权查看该网格党支部", code="other_scope")
    return branch_list(session, grid_id)


@dataclass(frozen=True)
class BranchMember:
    """A verified member as listed in a grid branch (personal data masked)."""

    member_id: int
    name: str
    category: str
    organisation: str
    phone: str


def branch_list(session: Session, grid_id: int) -> list[BranchMember]:
    """Verified members of a grid branch (网格党支部), name, organisation and phone masked."""
    rows = session.execute(
        select(PartyMember, Resident)
        .join(Resident, Resident.id == PartyMember.resident_id)
        .where(PartyMember.grid_id == grid_id, PartyMember.status == "verified")
        .order_by(PartyMember.id)
    )
    return [
        BranchMember(
            m.id,
            privacy.mask_name(r.name),
            m.category,
            privacy.mask_organisation(m.organisation),
            privacy.mask_phone(r.phone),
        )
        for m, r in rows
    ]


def link_household(session: Session, staff_id: int, member_id: int, building_id: int, room: str) -> PartyHousehold:
    """Link a verified member to a household of their grid (one member per household)."""
    member = session.get(PartyMember, member_id)
    if member is None:
        raise NotFound("党员报到记录不存在")
    if member.status != "verified":
        raise Conflict("党员报到核实后才能联户", code="not_verified")
    building = session.get(Building, building_id)
    if building is None:
        raise NotFound("楼栋不存在")
    organiser(session, staff_id, member.community_id, building.grid_id)
    if member.grid_id is not None and building.grid_id != member.grid_id:
        raise Conflict("只能联系本网格的住户", code="other_grid")
    room = (room or "").strip()
    if not room:
        raise DomainError("请填写房号", code="room_required")
    link = PartyHousehold(member_id=member.id, building_id=building.id, room=room[:20], grid_id=building.grid_id)
    try:
        with session.begin_nested():
            session.add(link)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("该住户已有联户党员", code="household_taken") from exc
    return link


def households_of(session: Session, resident_id: int) -> list[tuple[PartyHousehold, Building]]:
    """The households a member looks after (their own view: rooms shown)."""
    rows = session.execute(
        select(PartyHousehold, Building)
        .join(Building, Building.id == PartyHousehold.building_id)
        .join(PartyMember, PartyMember.id == PartyHousehold.member_id)
        .where(PartyMember.resident_id == resident_id)
        .order_by(Building.id, PartyHousehold.room)
    )
    return [(h, b) for h, b in rows]


@dataclass(frozen=True)
class Coverage:
    """Households of a grid (distinct building + room of its residents) and how many have a member."""

    grid_id: int
    grid_name: str
    households: int
    covered: int

    @property
    def rate(self) -> float:
        """Covered share, 0 … 1."""
        return self.covered / self.households if self.households else 0.0


def coverage(session: Session, community_id: int) -> list[Coverage]:
    """Per grid of the community: known households and those linked to a party member."""
    # A household is a (building, room): where residents live, plus any a member was linked to.
    homes = union(
        select(Resident.building_id, Resident.room).where(
            Resident.building_id.is_not(None), Resident.room.is_not(None), Resident.erased_at.is_(None)
        ),
        select(PartyHousehold.building_id, PartyHousehold.room),
    ).subquery()
    known = dict(
        session.execute(
            select(Building.grid_id, func.count())
            .select_from(homes)
            .join(Building, Building.id == homes.c.building_id)
            .group_by(Building.grid_id)
        ).all()
    )
    covered = dict(session.execute(select(PartyHousehold.grid_id, func.count()).group_by(PartyHousehold.grid_id)).all())
    grids = session.scalars(select(Grid).where(Grid.community_id == community_id).order_by(Grid.id))
    return [Coverage(g.id, g.name, int(known.get(g.id, 0)), int(covered.get(g.id, 0))) for g in grids]
