"""Administration of handling units shared by the communities of a street: departments and property companies.

A department (城管, 派出所 …) or a property company may serve several communities, so any administrator creates
one; editing it is left to a street admin once another community depends on it (another community's staff,
estates or routing rules name it), so one community cannot rename a unit under another's feet.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models.org import Department, Estate, PropertyCompany
from models.routing import RoutingRule
from models.staff import Staff
from services.errors import Forbidden, NotFound
from services.organisation.admin_places import check_code, unique_code
from services.organisation.admin_scope import InvalidField, clean, is_street_admin, require_admin

DEPARTMENT_KINDS = {"government": "政府部门", "community": "社区机构", "enterprise": "企业", "other": "其他"}


def department_in_other_community(session: Session, member: Staff, department_id: int) -> bool:
    """Whether staff or routing rules of another community name this department."""
    mine = member.community_id
    staff = select(Staff.id).where(Staff.department_id == department_id, Staff.community_id != mine)
    rules = select(RoutingRule.id).where(
        RoutingRule.department_id == department_id,
        or_(RoutingRule.community_id != mine, RoutingRule.community_id.is_(None)),
    )
    return any(session.scalar(q.limit(1)) is not None for q in (staff, rules))


def company_in_other_community(session: Session, member: Staff, company_id: int) -> bool:
    """Whether an estate or staff member of another community names this property company."""
    mine = member.community_id
    estates = select(Estate.id).where(Estate.property_company_id == company_id, Estate.community_id != mine)
    staff = select(Staff.id).where(Staff.property_company_id == company_id, Staff.community_id != mine)
    return any(session.scalar(q.limit(1)) is not None for q in (estates, staff))


def load_department(session: Session, member: Staff, department_id: int, *, for_edit: bool = False) -> Department:
    """A department; with `for_edit`, Forbidden when another community depends on it (street admins excepted)."""
    require_admin(member)
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound("没有这个部门。")
    if for_edit and not is_street_admin(member) and department_in_other_community(session, member, department.id):
        raise Forbidden("其他社区也在使用这个部门，只有街道管理员可以修改它。")
    return department


def save_department(
    session: Session, member: Staff, department: Department | None, *, code: str, name: str, kind: str
) -> Department:
    """Create or edit a department (handling unit outside the grid)."""
    require_admin(member)
    if department is not None:
        load_department(session, member, department.id, for_edit=True)
    target = department or Department()
    code = check_code(code)
    unique_code(session, Department, code, target, "部门")
    if kind not in DEPARTMENT_KINDS:
        raise InvalidField("kind", "请选择部门类型。")
    target.code, target.kind = code, kind
    target.name = clean(name, "name", "部门名称", high=100)
    session.add(target)
    session.flush()
    return target


def load_company(session: Session, member: Staff, company_id: int, *, for_edit: bool = False) -> PropertyCompany:
    """A property company; with `for_edit`, Forbidden when another community depends on it (street admins excepted)."""
    require_admin(member)
    company = session.get(PropertyCompany, company_id)
    if company is None:
        raise NotFound("没有这家物业公司。")
    if for_edit and not is_street_admin(member) and company_in_other_community(session, member, company.id):
        raise Forbidden("其他社区的小区也由这家物业公司管理，只有街道管理员可以修改它。")
    return company


def save_company(
    session: Session, member: Staff, company: PropertyCompany | None, *, code: str, name: str
) -> PropertyCompany:
    """Create or edit a property company (its estates are chosen on each estate's form)."""
    require_admin(member)
    if company is not None:
        load_company(session, member, company.id, for_edit=True)
    target = company or PropertyCompany()
    code = check_code(code)
    unique_code(session, PropertyCompany, code, target, "物业公司")
    target.code = code
    target.name = clean(name, "name", "物业公司名称", high=100)
    session.add(target)
    session.flush()
    return target
