"""Which staff may organise volunteers, teams, call-ups and party members, and where."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models.staff import Staff
from services.errors import Forbidden

ORGANISER_ROLES = ("grid_worker", "grid_leader", "community_staff", "community_secretary", "admin")


def organiser(session: Session, staff_id: int, community_id: int, grid_id: int | None = None) -> Staff:
    """The staff member, if they may organise volunteers in this community (grid staff only in their grid)."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.role not in ORGANISER_ROLES:
        raise Forbidden("无权组织志愿服务", code="not_organiser")
    if staff.community_id not in (None, community_id):
        raise Forbidden("只能管理本社区的志愿服务", code="other_community")
    if staff.role in ("grid_worker", "grid_leader") and (grid_id is None or staff.grid_id != grid_id):
        raise Forbidden("网格员只能管理本网格的志愿服务", code="other_grid")
    return staff


def may_follow(staff: Staff | None, community_id: int, grid_id: int | None) -> bool:
    """Whether the staff member may see an organised thing of this community and grid (not change it).

    Community staff see all of their community; grid staff see what is community-wide or in their grid."""
    if staff is None or not staff.active or staff.role not in ORGANISER_ROLES:
        return False
    if staff.community_id not in (None, community_id):
        return False
    if staff.role in ("grid_worker", "grid_leader"):
        return grid_id in (None, staff.grid_id)
    return True
