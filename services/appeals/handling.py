"""Who handles an appeal and who is told: the handling unit's name, its staff, the grid leader, the community
secretary and, outside working hours, the staff on duty.

Every other module asks here, so a chase, an urgent push, a dispatch and an escalation reach the same people.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.appeal import Appeal
from models.org import Department, Grid, PropertyCompany
from models.staff import Staff
from services.appeals.duty import night_duty


def unit_name(session: Session, appeal: Appeal) -> str:
    """The handling unit's display name (网格 / 部门 / 物业)."""
    if appeal.handler_type == "department" and appeal.department_id:
        dept = session.get(Department, appeal.department_id)
        return dept.name if dept else "相关部门"
    if appeal.handler_type == "property_company" and appeal.property_company_id:
        company = session.get(PropertyCompany, appeal.property_company_id)
        return company.name if company else "物业公司"
    if appeal.grid_id:
        grid = session.get(Grid, appeal.grid_id)
        return grid.name if grid else "网格"
    return "社区"


def handler_staff(session: Session, appeal: Appeal) -> list[Staff]:
    """Who is told as the appeal's handler: its assignee, else the handling unit's active staff.

    The assignee is the one who signed the appeal in, so they hear of every later step (a chase, an urgent
    push, a reopen) rather than the whole unit. A grid's appeal goes to its grid workers (网格员), or to the
    grid leader when the grid has none. An appeal that has a grid but no handler yet (not dispatched) is the
    grid's: its workers are the ones who can go and look.
    """
    if appeal.assignee_staff_id is not None:
        staff = session.get(Staff, appeal.assignee_staff_id)
        if staff is not None and staff.active:
            return [staff]
    stmt = select(Staff).where(Staff.active.is_(True)).order_by(Staff.id)
    if appeal.handler_type == "grid" or (appeal.handler_type is None and appeal.grid_id is not None):
        found = list(session.scalars(stmt.where(Staff.grid_id == appeal.grid_id, Staff.role == "grid_worker")))
        return found or list(session.scalars(stmt.where(Staff.grid_id == appeal.grid_id, Staff.role == "grid_leader")))
    if appeal.handler_type == "department":
        return list(session.scalars(stmt.where(Staff.department_id == appeal.department_id)))
    if appeal.handler_type == "property_company":
        return list(session.scalars(stmt.where(Staff.property_company_id == appeal.property_company_id)))
    return []


def grid_leader(session: Session, appeal: Appeal) -> Staff | None:
    """The grid leader of the appeal's grid (escalation level 1), else a community staff member."""
    stmt = select(Staff).where(Staff.active.is_(True)).order_by(Staff.id)
    if appeal.grid_id is not None:
        leader = session.scalar(stmt.where(Staff.grid_id == appeal.grid_id, Staff.role == "grid_leader"))
        if leader is not None:
            return leader
    return session.scalar(stmt.where(Staff.community_id == appeal.community_id, Staff.role == "community_staff"))


def secretary(session: Session, appeal: Appeal) -> Staff | None:
    """The community secretary (arbitration and escalation level 2)."""
    stmt = select(Staff).where(Staff.active.is_(True), Staff.role == "community_secretary").order_by(Staff.id)
    return session.scalar(stmt.where(Staff.community_id == appeal.community_id)) or session.scalar(stmt)


def grid_leaders(session: Session, grid_id: int | None) -> list[Staff]:
    """Active grid leaders (网格长) of a grid."""
    if grid_id is None:
        return []
    stmt = select(Staff).where(Staff.active.is_(True), Staff.grid_id == grid_id, Staff.role == "grid_leader")
    return list(session.scalars(stmt.order_by(Staff.id)))


def on_duty_now(session: Session, appeal: Appeal, now: datetime) -> list[Staff]:
    """For an urgent appeal outside working hours, the community's staff on duty (else nobody extra)."""
    if not appeal.urgent:
        return []
    return night_duty(session, appeal.community_id, now)
