"""Deliberation councils (议事会): a council per community or estate, its members, meetings and items.

Members are the parties of community co-governance: party members, residents' representatives, the property
company, the owners' committee, community staff and co-building units (共建单位). A meeting has an agenda,
attendance and minutes; an item (议题) comes from an appeal, a micro-project proposal, a need, or staff, and a
major item is decided through 四议两公开 (`services.participation.procedure`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from models.appeal import Appeal
from models.council import MEMBER_KINDS, Council, CouncilItem, CouncilMeeting, CouncilMember, MeetingAttendance
from models.micro_project import Proposal
from models.org import Estate
from models.staff import Staff
from services.cobuilding import needs as need_service
from services.errors import DomainError, NotFound
from services.participation import scope as scopes

ITEM_SOURCES = ("appeal", "proposal", "need", "staff")


def create_council(session: Session, staff: Staff, *, name: str, estate_id: int | None = None) -> Council:
    """A council for the staff member's community, or for one of its estates."""
    community_id = scopes.check_organiser(staff)
    if not name.strip():
        raise DomainError("请填写议事会名称", code="invalid_name")
    if estate_id is not None:
        estate = session.get(Estate, estate_id)
        if estate is None or estate.community_id != community_id:
            raise DomainError("社区里没有这个小区", code="invalid_estate")
    council = Council(community_id=community_id, estate_id=estate_id, name=name.strip())
    session.add(council)
    session.flush()
    return council


def get_for_staff(session: Session, staff: Staff, public_id: str) -> Council:
    """A council of the staff member's community (404 otherwise)."""
    council = session.scalar(
        select(Council).where(Council.public_id == public_id, Council.community_id == staff.community_id)
    )
    if council is None:
        raise NotFound("您的社区里没有这个议事会")
    return council


def for_staff(staff: Staff) -> Select[tuple[Council]]:
    """Councils of the staff member's community, oldest first."""
    return select(Council).where(Council.community_id == staff.community_id).order_by(Council.id)


def add_member(
    session: Session,
    staff: Staff,
    council: Council,
    *,
    name: str,
    kind: str,
    organisation: str = "",
    resident_id: int | None = None,
    staff_id: int | None = None,
) -> CouncilMember:
    """Seat a member of one of the six kinds (party member … co-building unit)."""
    scopes.check_organiser(staff, council.community_id)
    if kind not in MEMBER_KINDS:
        raise DomainError(f"成员类别须为 {', '.join(MEMBER_KINDS)}", code="invalid_member_kind")
    if not name.strip():
        raise DomainError("请填写成员姓名", code="invalid_name")
    member = CouncilMember(
        council_id=council.id,
        name=name.strip(),
        kind=kind,
        organisation=organisation.strip(),
        resident_id=resident_id,
        staff_id=staff_id,
    )
    session.add(member)
    session.flush()
    return member


def schedule_meeting(
    session: Session,
    staff: Staff,
    council: Council,
    *,
    title: str,
    held_at: datetime,
    agenda: list[str],
    location: str = "",
) -> CouncilMeeting:
    """Call a meeting with its agenda."""
    scopes.check_organiser(staff, council.community_id)
    if not title.strip():
        raise DomainError("请填写会议名称", code="invalid_title")
    meeting = CouncilMeeting(
        council_id=council.id,
        title=title.strip(),
        held_at=held_at,
        agenda=[a.strip() for a in agenda if a.strip()],
        location=location.strip(),
    )
    session.add(meeting)
    session.flush()
    return meeting


def get_meeting(session: Session, staff: Staff, meeting_id: int) -> CouncilMeeting:
    """A meeting of a council of the staff member's community (404 otherwise)."""
    meeting = session.get(CouncilMeeting, meeting_id)
    council = session.get(Council, meeting.council_id) if meeting is not None else None
    if meeting is None or council is None or council.community_id != staff.community_id:
        raise NotFound("没有这次会议")
    return meeting


def record_meeting(
    session: Session,
    staff: Staff,
    meeting: CouncilMeeting,
    *,
    present_member_ids: list[int],
    minutes: str | None = None,
) -> CouncilMeeting:
    """Record who attended (every active member gets a row: present or absent) and the minutes."""
    council = session.get(Council, meeting.council_id)
    assert council is not None
    scopes.check_organiser(staff, council.community_id)
    members = {
        m.id: m
        for m in session.scalars(
            select(CouncilMember).where(CouncilMember.council_id == council.id, CouncilMember.active.is_(True))
        )
    }
    unknown = set(present_member_ids) - set(members)
    if unknown:
        raise DomainError("出席名单里有不是本议事会的成员", code="invalid_member", details=sorted(unknown))
    existing = {
        a.member_id: a
        for a in session.scalars(select(MeetingAttendance).where(MeetingAttendance.meeting_id == meeting.id))
    }
    for member_id in members:
        row = existing.get(member_id) or MeetingAttendance(meeting_id=meeting.id, member_id=member_id)
        row.present = member_id in present_member_ids
        session.add(row)
    if minutes is not None:
        meeting.minutes = minutes.strip()
    session.flush()
    return meeting


def add_item(
    session: Session,
    staff: Staff,
    council: Council,
    *,
    title: str,
    description: str = "",
    source_type: str = "staff",
    source_id: str | None = None,
    major: bool = True,
    meeting: CouncilMeeting | None = None,
) -> CouncilItem:
    """Put a matter before the council: from an appeal or a proposal of the community (by public id), a need of its
    needs list (by number), or raised by staff."""
    scopes.check_organiser(staff, council.community_id)
    if source_type not in ITEM_SOURCES:
        raise DomainError(f"议题来源须为 {', '.join(ITEM_SOURCES)}", code="invalid_source")
    if not title.strip():
        raise DomainError("请填写议题", code="invalid_title")
    if meeting is not None and meeting.council_id != council.id:
        raise DomainError("这次会议不属于该议事会", code="invalid_meeting")
    item = CouncilItem(
        council_id=council.id,
        meeting_id=meeting.id if meeting else None,
        title=title.strip(),
        description=description.strip(),
        source_type=source_type,
        major=major,
    )
    if source_type == "appeal":
        appeal = session.scalar(
            select(Appeal).where(Appeal.public_id == (source_id or ""), Appeal.community_id == council.community_id)
        )
        if appeal is None:
            raise NotFound("社区里没有这件诉求")
        item.appeal_id = appeal.id
    elif source_type == "proposal":
        proposal = session.scalar(
            select(Proposal).where(
                Proposal.public_id == (source_id or ""), Proposal.community_id == council.community_id
            )
        )
        if proposal is None:
            raise NotFound("社区里没有这个提议")
        item.proposal_id = proposal.id
    elif source_type == "need":
        raw = (source_id or "").strip()
        need = need_service.get(session, staff, int(raw)) if raw.isdigit() and int(raw) < 2**31 else None
        if need is None or need.community_id != council.community_id:
            raise NotFound("社区里没有这条需求")
        item.need_id = need.id
    session.add(item)
    session.flush()
    return item


def get_item(session: Session, staff: Staff, public_id: str, *, for_update: bool = False) -> CouncilItem:
    """An item of a council of the staff member's community (404 otherwise)."""
    stmt = (
        select(CouncilItem)
        .join(Council, Council.id == CouncilItem.council_id)
        .where(CouncilItem.public_id == public_id, Council.community_id == staff.community_id)
    )
    item = session.scalar(stmt.with_for_update(of=CouncilItem) if for_update else stmt)
    if item is None:
        raise NotFound("没有这个议题")
    return item


def view(session: Session, council: Council) -> dict[str, Any]:
    """A council with its members, meetings (agenda, attendance, minutes) and items."""
    members = list(session.scalars(select(CouncilMember).where(CouncilMember.council_id == council.id)))
    meetings = list(
        session.scalars(
            select(CouncilMeeting).where(CouncilMeeting.council_id == council.id).order_by(CouncilMeeting.held_at)
        )
    )
    attendance: dict[int, list[int]] = {}
    if meetings:
        for a in session.scalars(
            select(MeetingAttendance).where(MeetingAttendance.meeting_id.in_([m.id for m in meetings]))
        ):
            if a.present:
                attendance.setdefault(a.meeting_id, []).append(a.member_id)
    items = session.scalars(select(CouncilItem).where(CouncilItem.council_id == council.id).order_by(CouncilItem.id))
    return {
        "id": council.public_id,
        "name": council.name,
        "estate_id": council.estate_id,
        "members": [
            {"id": m.id, "name": m.name, "kind": m.kind, "organisation": m.organisation, "active": m.active}
            for m in members
        ],
        "meetings": [
            {
                "id": m.id,
                "title": m.title,
                "held_at": m.held_at,
                "location": m.location,
                "agenda": list(m.agenda or []),
                "present": sorted(attendance.get(m.id, [])),
                "minutes": m.minutes,
            }
            for m in meetings
        ],
        "items": [{"id": i.public_id, "title": i.title, "status": i.status, "major": i.major} for i in items],
    }
