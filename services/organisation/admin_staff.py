"""Administration of staff: create, change role and scope, deactivate or reactivate.

A staff member's WeChat is bound by signing in: the administrator prints a one-time sign-in link
(`services.console.signin.issue_link`, as `hongguan staff-login` does) and the person opens it; after that, the
openid of the WeChat they scan the console's sign-in QR with is matched (bound in the staff CSV or by import).
Nobody grants a role above their own, and nobody deactivates themselves.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.org import Department, Grid, PropertyCompany
from models.staff import STAFF_ROLES, Staff
from services.errors import Forbidden, NotFound
from services.organisation.admin_scope import InvalidField, check_community, clean, is_street_admin, require_admin

PHONE = re.compile(r"1\d{10}|0\d{2,3}-?\d{7,8}")
# The roles each administering role may grant: never one above its own.
GRANTABLE = {
    "community_staff": ("grid_worker", "grid_leader", "department_staff", "property_staff", "community_staff"),
    "community_secretary": (
        "grid_worker", "grid_leader", "department_staff", "property_staff", "community_staff", "community_secretary",
    ),
    # A 兼职委员's login belongs to their member unit and is made on the unit's 共建 page, which links the two.
    "admin": tuple(role for role in STAFF_ROLES if role != "member_unit"),
}  # fmt: skip


def grantable_roles(member: Staff) -> tuple[str, ...]:
    """The roles this administrator may give (street officers and admins only by an admin)."""
    return tuple(GRANTABLE.get(member.role, ()))


def load_staff(session: Session, member: Staff, staff_id: int) -> Staff:
    """A staff member of a community the administrator administers (street admins: anyone)."""
    require_admin(member)
    found = session.get(Staff, staff_id)
    if found is None:
        raise NotFound("没有这位工作人员。")
    if found.community_id is None:
        if not is_street_admin(member):
            raise Forbidden("这位工作人员不属于您的社区，您不能修改。")
    else:
        check_community(session, member, found.community_id)
    if found.role not in grantable_roles(member):
        raise Forbidden("这位工作人员的角色高于您能授予的角色，您不能修改。")
    return found


def save_staff(
    session: Session,
    member: Staff,
    target: Staff | None,
    *,
    community_id: int,
    name: str,
    role: str,
    grid_id: int | None,
    department_id: int | None,
    property_company_id: int | None,
    phone: str | None,
) -> Staff:
    """Create a staff member or change their name, role, scope (grid, department, property company) and phone."""
    community = check_community(session, member, community_id)
    if target is not None:
        load_staff(session, member, target.id)
    if role not in grantable_roles(member):
        raise InvalidField("role", "您不能授予这个角色。")
    person = target or Staff()
    grid = session.get(Grid, grid_id) if grid_id is not None else None
    if role in ("grid_worker", "grid_leader"):
        if grid is None or grid.community_id != community.id:
            raise InvalidField("grid_id", "网格员、网格长须选择本社区的一个网格。")
    else:
        grid = None
    department = session.get(Department, department_id) if department_id is not None else None
    if role == "department_staff" and department is None:
        raise InvalidField("department_id", "部门工作人员须选择所属部门。")
    company = session.get(PropertyCompany, property_company_id) if property_company_id is not None else None
    if role == "property_staff" and company is None:
        raise InvalidField("property_company_id", "物业工作人员须选择所属物业公司。")
    number = (phone or "").strip().replace(" ", "")
    if number and not PHONE.fullmatch(number):
        raise InvalidField("phone", "电话号码格式不正确（手机 11 位，或带区号的座机）。")
    if target is not None and target.id == member.id and role != member.role:
        raise InvalidField("role", "不能修改自己的角色，请让另一位管理员操作。")
    person.name = clean(name, "name", "姓名", high=50)
    person.role, person.community_id = role, community.id
    person.grid_id = grid.id if grid else None
    person.department_id = department.id if department and role == "department_staff" else None
    person.property_company_id = company.id if company and role == "property_staff" else None
    person.phone = number or None
    session.add(person)
    session.flush()
    return person


def set_active(session: Session, member: Staff, target: Staff, active: bool) -> Staff:
    """Deactivate (their sessions and sign-in links stop working) or reactivate a staff member."""
    load_staff(session, member, target.id)
    if target.id == member.id and not active:
        raise Forbidden("不能停用自己的账号，请让另一位管理员操作。")
    target.active = active
    session.flush()
    return target


def community_staff(session: Session, community_ids: list[int]) -> list[Staff]:
    """The staff of these communities, active first, by role and name."""
    return list(
        session.scalars(
            select(Staff)
            .where(Staff.community_id.in_(community_ids))
            .order_by(Staff.active.desc(), Staff.role, Staff.name, Staff.id)
        )
    )
