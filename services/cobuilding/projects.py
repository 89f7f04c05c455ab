"""The project list (项目清单): projects pairing needs with resources and units, with goal, period, budget and
progress updates, closed with a result and photos."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from infra import clock
from models.cobuilding import (
    CobuildingNeed,
    CobuildingProject,
    CobuildingProjectLink,
    CobuildingProjectUpdate,
    CobuildingResource,
    CobuildingUnit,
)
from models.staff import Staff
from services.cobuilding import units
from services.errors import DomainError, InvalidTransition, NotFound


def create(
    session: Session,
    staff: Staff,
    *,
    title: str,
    goal: str,
    starts_on: date,
    ends_on: date,
    budget_yuan: int = 0,
    links: Iterable[tuple[int, int | None, int | None]] = (),
) -> CobuildingProject:
    """Start a project in the caller's community; `links` are (unit id, need id | None, resource id | None)."""
    community_id = units.community_of(staff)
    units.require_coordinator(staff, community_id)
    if ends_on < starts_on:
        raise DomainError("项目结束日期早于开始日期", code="bad_period")
    if budget_yuan < 0:
        raise DomainError("预算不能为负", code="bad_budget")
    project = CobuildingProject(
        community_id=community_id,
        title=title,
        goal=goal,
        starts_on=starts_on,
        ends_on=ends_on,
        budget_yuan=budget_yuan,
        photos=[],
        created_by_staff_id=staff.id,
    )
    session.add(project)
    session.flush()
    for unit_id, need_id, resource_id in links:
        link(session, project, unit_id=unit_id, need_id=need_id, resource_id=resource_id)
    return project


def link(
    session: Session, project: CobuildingProject, *, unit_id: int, need_id: int | None, resource_id: int | None
) -> CobuildingProjectLink:
    """Add a unit (with the need it answers and the resource it brings) to a project of the same community."""
    unit = session.get(CobuildingUnit, unit_id)
    if unit is None or unit.community_id != project.community_id:
        raise NotFound("本社区大党委没有这家成员单位")
    if need_id is not None:
        need = session.get(CobuildingNeed, need_id)
        if need is None or need.community_id != project.community_id:
            raise NotFound("本社区没有这条需求")
    if resource_id is not None:
        resource = session.get(CobuildingResource, resource_id)
        if resource is None or resource.unit_id != unit_id:
            raise NotFound("这家单位没有这项资源")
    row = CobuildingProjectLink(project_id=project.id, unit_id=unit_id, need_id=need_id, resource_id=resource_id)
    session.add(row)
    session.flush()
    return row


def visible(session: Session, staff: Staff) -> Select[tuple[CobuildingProject]]:
    """Projects the caller may list: a unit the ones it takes part in; others their community's."""
    stmt = select(CobuildingProject)
    if staff.role in units.CROSS_COMMUNITY_ROLES:
        return stmt
    if staff.role == units.UNIT_ROLE:
        unit = units.unit_of(session, staff)
        part = select(CobuildingProjectLink.project_id).where(
            CobuildingProjectLink.unit_id == (unit.id if unit else -1)
        )
        return stmt.where(CobuildingProject.id.in_(part))
    return stmt.where(CobuildingProject.community_id == units.community_of(staff))


def get(session: Session, staff: Staff, project_id: int) -> CobuildingProject:
    """One project the caller may see (404 otherwise)."""
    project = session.scalar(visible(session, staff).where(CobuildingProject.id == project_id))
    if project is None:
        raise NotFound("没有这个共建项目")
    return project


def _may_report(session: Session, staff: Staff, project: CobuildingProject) -> bool:
    if units.is_coordinator(staff, project.community_id):
        return True
    unit = units.unit_of(session, staff)
    if unit is None:
        return False
    taking_part = select(CobuildingProjectLink.id).where(
        CobuildingProjectLink.project_id == project.id, CobuildingProjectLink.unit_id == unit.id
    )
    return session.scalar(taking_part) is not None


def report_progress(
    session: Session, staff: Staff, project: CobuildingProject, *, text: str, progress: int, photos: list[str] = ()
) -> CobuildingProjectUpdate:
    """A progress update from a coordinator or a unit taking part."""
    if not _may_report(session, staff, project):
        raise NotFound("没有这个共建项目")
    if project.status != "active":
        raise InvalidTransition("项目已结项，不能再更新进展")
    if not 0 <= progress <= 100:
        raise DomainError("进度须在 0 到 100 之间", code="bad_progress")
    update = CobuildingProjectUpdate(
        project_id=project.id, staff_id=staff.id, text=text, progress=progress, photos=list(photos)
    )
    project.progress = progress
    session.add(update)
    session.flush()
    return update


def close(session: Session, staff: Staff, project: CobuildingProject, *, result: str, photos: list[str]) -> None:
    """结项: close the project with its result and photos (a coordinator of its community)."""
    units.require_coordinator(staff, project.community_id)
    if project.status != "active":
        raise InvalidTransition("项目已结项")
    if not result.strip():
        raise DomainError("结项须写明成效", code="result_required")
    project.status = "closed"
    project.result = result
    project.photos = list(photos)
    project.progress = 100
    project.closed_at = clock.now()
    session.flush()


def view(session: Session, project: CobuildingProject) -> dict[str, Any]:
    """A project with its units, needs, resources and progress updates."""
    links = session.scalars(
        select(CobuildingProjectLink)
        .where(CobuildingProjectLink.project_id == project.id)
        .order_by(CobuildingProjectLink.id)
    )
    updates = session.scalars(
        select(CobuildingProjectUpdate)
        .where(CobuildingProjectUpdate.project_id == project.id)
        .order_by(CobuildingProjectUpdate.id)
    )
    return {
        "id": project.id,
        "community_id": project.community_id,
        "title": project.title,
        "goal": project.goal,
        "starts_on": project.starts_on.isoformat(),
        "ends_on": project.ends_on.isoformat(),
        "budget_yuan": project.budget_yuan,
        "progress": project.progress,
        "status": project.status,
        "result": project.result,
        "photos": list(project.photos or []),
        "closed_at": project.closed_at.isoformat() if project.closed_at else None,
        "links": [{"unit_id": x.unit_id, "need_id": x.need_id, "resource_id": x.resource_id} for x in links],
        "updates": [
            {"text": u.text, "progress": u.progress, "photos": list(u.photos or []), "at": u.created_at.isoformat()}
            for u in updates
        ],
    }
