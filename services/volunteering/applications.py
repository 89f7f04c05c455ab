"""Becoming a volunteer: a resident applies, staff approve (role + skills + team) or decline with a reason."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from infra import clock
from models.resident import Resident
from models.staff import Staff
from models.volunteer import TeamMember, VolunteerApplication, VolunteerSkill, VolunteerTeam
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound
from services.notifications import notify
from services.organisation.organisers import ORGANISER_ROLES, organiser

MAX_SKILLS = 10


def _clean_skills(skills: list[str]) -> list[str]:
    cleaned: list[str] = []
    for raw in skills:
        skill = (raw or "").strip()
        if not skill:
            continue
        if len(skill) > 30:
            raise DomainError("技能名称不能超过 30 个字", code="skill_too_long")
        if skill not in cleaned:
            cleaned.append(skill)
    if len(cleaned) > MAX_SKILLS:
        raise DomainError(f"技能最多填写 {MAX_SKILLS} 项", code="too_many_skills")
    return cleaned


def apply(
    session: Session,
    resident_id: int,
    *,
    skills: list[str],
    availability: str = "",
    preferred_team_id: int | None = None,
    service_area: str = "",
) -> VolunteerApplication:
    """File a volunteer application for the resident's community; one pending application at a time."""
    resident = session.scalar(select(Resident).where(Resident.id == resident_id).with_for_update())
    if resident is None:
        raise NotFound("居民不存在")
    if resident.community_id is None:
        raise Conflict("请先绑定所在社区再申请成为志愿者", code="no_community")
    if resident.is_volunteer:
        raise Conflict("您已经是志愿者", code="already_volunteer")
    pending = session.scalar(
        select(VolunteerApplication.id).where(
            VolunteerApplication.resident_id == resident_id, VolunteerApplication.status == "pending"
        )
    )
    if pending is not None:
        raise Conflict("您的申请正在审核中", code="application_pending")
    if preferred_team_id is not None:
        team = session.get(VolunteerTeam, preferred_team_id)
        if team is None or not team.active or team.community_id != resident.community_id:
            raise NotFound("志愿服务队不存在")
    row = VolunteerApplication(
        resident_id=resident_id,
        community_id=resident.community_id,
        grid_id=resident.grid_id,
        skills=_clean_skills(skills),
        availability=availability.strip()[:200],
        preferred_team_id=preferred_team_id,
        service_area=service_area.strip()[:200],
        status="pending",
    )
    session.add(row)
    session.flush()
    return row


def _lock(session: Session, application_id: int) -> VolunteerApplication:
    row = session.scalar(
        select(VolunteerApplication)
        .where(VolunteerApplication.id == application_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("志愿者申请不存在")
    return row


def approve(
    session: Session,
    application_id: int,
    staff_id: int,
    *,
    skills: list[str] | None = None,
    team_id: int | None = None,
) -> VolunteerApplication:
    """Approve: the resident becomes a volunteer with the skills given, joins the team, is told.

    The reviewer may correct the skills the resident listed and place them in another team of the community;
    without either, the application's own skills and preferred team stand."""
    row = _lock(session, application_id)
    organiser(session, staff_id, row.community_id, row.grid_id)
    if row.status != "pending":
        raise InvalidTransition("该申请已审核")
    if skills is not None:
        row.skills = _clean_skills(skills)
    if team_id is not None:
        team = session.get(VolunteerTeam, team_id)
        if team is None or not team.active or team.community_id != row.community_id:
            raise NotFound("志愿服务队不存在")
        row.preferred_team_id = team.id
    now = clock.now()
    row.status, row.reviewed_by_staff_id, row.reviewed_at = "approved", staff_id, now
    resident = session.get(Resident, row.resident_id)
    assert resident is not None
    resident.is_volunteer = True
    session.execute(delete(VolunteerSkill).where(VolunteerSkill.resident_id == resident.id))
    for skill in row.skills:
        session.add(VolunteerSkill(resident_id=resident.id, skill=skill))
    if row.preferred_team_id is not None:
        joined = session.scalar(
            select(TeamMember.id).where(
                TeamMember.team_id == row.preferred_team_id, TeamMember.resident_id == resident.id
            )
        )
        if joined is None:
            session.add(TeamMember(team_id=row.preferred_team_id, resident_id=resident.id, role="member"))
    session.flush()
    notify.notify_resident(
        session,
        resident.id,
        "您的志愿者申请已通过，欢迎加入社区志愿服务！可在小程序查看队伍、岗位和倡议。",
        key=f"volunteer-application-{row.id}",
        related=("volunteer_application", row.id),
    )
    return row


def decline(session: Session, application_id: int, staff_id: int, reason: str) -> VolunteerApplication:
    """Decline with a reason the resident is told."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("请填写不通过的原因", code="reason_required")
    row = _lock(session, application_id)
    organiser(session, staff_id, row.community_id, row.grid_id)
    if row.status != "pending":
        raise InvalidTransition("该申请已审核")
    row.status, row.decline_reason = "declined", reason[:300]
    row.reviewed_by_staff_id, row.reviewed_at = staff_id, clock.now()
    session.flush()
    notify.notify_resident(
        session,
        row.resident_id,
        f"您的志愿者申请未通过：{row.decline_reason}",
        key=f"volunteer-application-{row.id}",
        related=("volunteer_application", row.id),
    )
    return row


def queue(session: Session, staff_id: int, *, limit: int = 50) -> list[VolunteerApplication]:
    """Pending applications the staff member may review, oldest first (grid staff see their grid's)."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.role not in ORGANISER_ROLES:
        raise Forbidden("无权审核志愿者申请", code="not_organiser")
    stmt = select(VolunteerApplication).where(VolunteerApplication.status == "pending")
    if staff.community_id is not None:
        stmt = stmt.where(VolunteerApplication.community_id == staff.community_id)
    if staff.role in ("grid_worker", "grid_leader"):
        stmt = stmt.where(VolunteerApplication.grid_id == staff.grid_id)
    return list(session.scalars(stmt.order_by(VolunteerApplication.id).limit(limit)))


def volunteers(session: Session, staff_id: int, *, limit: int = 200) -> list[tuple[Resident, list[str]]]:
    """Approved volunteers the staff member looks after, with their skills (grid staff: their grid's)."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.role not in ORGANISER_ROLES:
        raise Forbidden("无权查看志愿者", code="not_organiser")
    stmt = select(Resident).where(Resident.is_volunteer.is_(True), Resident.erased_at.is_(None))
    if staff.community_id is not None:
        stmt = stmt.where(Resident.community_id == staff.community_id)
    if staff.role in ("grid_worker", "grid_leader"):
        stmt = stmt.where(Resident.grid_id == staff.grid_id)
    people = list(session.scalars(stmt.order_by(Resident.id).limit(limit)))
    skills: dict[int, list[str]] = {}
    for resident_id, skill in session.execute(
        select(VolunteerSkill.resident_id, VolunteerSkill.skill)
        .where(VolunteerSkill.resident_id.in_([p.id for p in people]))
        .order_by(VolunteerSkill.id)
    ):
        skills.setdefault(resident_id, []).append(skill)
    return [(p, skills.get(p.id, [])) for p in people]


def latest_of(session: Session, resident_id: int) -> VolunteerApplication | None:
    """The resident's most recent application."""
    return session.scalar(
        select(VolunteerApplication)
        .where(VolunteerApplication.resident_id == resident_id)
        .order_by(VolunteerApplication.id.desc())
        .limit(1)
    )


def skills_of(session: Session, resident_id: int) -> list[str]:
    """An approved volunteer's skills."""
    return list(
        session.scalars(
            select(VolunteerSkill.skill).where(VolunteerSkill.resident_id == resident_id).order_by(VolunteerSkill.id)
        )
    )
