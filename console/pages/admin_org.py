"""管理 › the community's structure: communities, grids (with boundary and leader), estates, buildings,
departments, property companies and staff (roles, scope, deactivation, one-time sign-in links)."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from console.pages.admin import AdminForm, Resource, none_if_zero, options, register
from console.pages.maps import boundary_svg
from console.pages.web import ROLE_LABELS, bp, page, record, signed_in, staff
from infra.web import db_session
from models.org import Building, Department, Estate, Grid, PropertyCompany
from models.staff import Staff
from services.console.signin import LINK_TTL, issue_link
from services.errors import DomainError
from services.organisation import admin_places as places
from services.organisation import admin_staff, admin_units
from services.organisation.admin_scope import check_community, communities_of, is_street_admin

CODE_HINT = "字母、数字、“-”或“_”，最多 32 位；CSV 导入和二维码用它指认这一项。"
CODE_RULE = Regexp(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", message="编码只能由字母、数字、“-”和“_”组成，以字母或数字开头。")


def _code(label: str = "编码") -> StringField:
    return StringField(label, [DataRequired(message="请填写编码。"), Length(max=32, message="编码最多 32 位。"),
                               CODE_RULE], description=CODE_HINT)  # fmt: skip


def _name(label: str, high: int) -> StringField:
    return StringField(
        label, [DataRequired(message=f"请填写{label}。"), Length(max=high, message=f"{label}最多 {high} 个字。")]
    )


def community_ids(session: Session, member: Staff) -> list[int]:
    """The ids of the communities the staff member administers."""
    return [c.id for c in communities_of(session, member)]


def community_choices(form: Any, session: Session, member: Staff) -> None:
    """Offer the communities the staff member administers in the form's community select."""
    form.community_id.choices = options((c.id, c.name) for c in communities_of(session, member))


def names(session: Session, model: Any, ids: set[int | None]) -> dict[int, str]:
    """id → name of the rows of `model` with these ids."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {row.id: row.name for row in session.scalars(select(model).where(model.id.in_(wanted)))}


# ---------------------------------------------------------------- communities


class CommunityForm(AdminForm):
    """A community (社区)."""

    code = _code()
    name = _name("社区名称", 100)
    street = StringField("所属街道", [Optional(), Length(max=100, message="所属街道最多 100 个字。")])


register(Resource(
    name="communities", title="社区", audit_type="community", form=CommunityForm,
    rows=lambda session, member: communities_of(session, member),
    columns=(("编码", lambda c: c.code), ("名称", lambda c: c.name), ("街道", lambda c: c.street)),
    load=lambda session, member, object_id: check_community(session, member, object_id),
    save=lambda session, member, obj, form: places.save_community(
        session, member, obj, code=form.code.data, name=form.name.data, street=form.street.data or ""),
    values=lambda session, c: {"code": c.code, "name": c.name, "street": c.street},
    may_create=is_street_admin,
    hint="社区只能由街道（平台）管理员新建；社区书记可修改本社区的名称和街道。",
))  # fmt: skip


# ---------------------------------------------------------------- grids


class GridForm(AdminForm):
    """A grid (网格): its code, name, leader and boundary."""

    community_id = SelectField("所属社区", coerce=int)
    code = _code()
    name = _name("网格名称", 100)
    leader_id = SelectField("网格长", coerce=int, description="从本社区的网格员、网格长中选择；原网格长改为网格员。")
    boundary = TextAreaField(
        "网格边界", [Optional(), Length(max=20000, message="边界内容太长（最多 500 个点）。")],
        description="每行一个点，“经度,纬度”（WGS-84，与微信位置一致，经度在前），按边界走向依次填写，至少 3 个点；"
        "可留空，留空时不能按位置判定网格。",
        render_kw={"rows": 8, "spellcheck": "false"},
    )  # fmt: skip


def _grid_choices(form: Any, session: Session, member: Staff) -> None:
    community_choices(form, session, member)
    candidates = [s for cid in community_ids(session, member) for s in places.leader_candidates(session, cid)]
    labels = [(s.id, f"{s.name}（{ROLE_LABELS.get(s.role, s.role)}）") for s in candidates]
    form.leader_id.choices = options([(0, "暂不指定"), *labels])


def grid_rows(session: Session, member: Staff) -> list[Grid]:
    """The grids of the communities the staff member administers."""
    ids = community_ids(session, member)
    return list(session.scalars(select(Grid).where(Grid.community_id.in_(ids)).order_by(Grid.code)))


def _grid_values(session: Session, grid: Grid) -> dict[str, Any]:
    leader = places.grid_leader(session, grid)
    return {"community_id": grid.community_id, "code": grid.code, "name": grid.name,
            "leader_id": leader.id if leader else 0, "boundary": places.boundary_text(grid.boundary)}  # fmt: skip


def _grid_preview(session: Session, member: Staff, grid: Grid | None, form: Any) -> dict[str, Any]:
    """The boundary drawn as the appeal page draws it: what was typed when it parses, else what is saved."""
    name = form.name.data or (grid.name if grid else "新网格")
    if request.method == "POST":
        try:
            typed = places.parse_boundary(form.boundary.data)
        except DomainError:
            typed = None
        if typed is not None:
            return {"svg": boundary_svg(typed, name)}
    return {"svg": boundary_svg(grid.boundary, name) if grid is not None else None}


def _leader_name(session: Session, grid: Grid) -> str:
    leader = places.grid_leader(session, grid)
    return leader.name if leader else "—"


register(Resource(
    name="grids", title="网格", audit_type="grid", form=GridForm, rows=grid_rows,
    columns=(("编码", lambda g: g.code), ("名称", lambda g: g.name),
             ("网格长", lambda g: _leader_name(db_session(), g)),
             ("边界", lambda g: "已绘制" if g.boundary else "未设置")),
    load=places.load_grid,
    save=lambda session, member, obj, form: places.save_grid(
        session, member, obj, community_id=form.community_id.data, code=form.code.data, name=form.name.data,
        boundary=form.boundary.data, leader_id=none_if_zero(form.leader_id.data)),
    values=_grid_values, choices=_grid_choices, extra="console/_admin_grid_preview.html", context=_grid_preview,
))  # fmt: skip


# ---------------------------------------------------------------- estates and buildings


class EstateForm(AdminForm):
    """An estate (小区) and its property company."""

    community_id = SelectField("所属社区", coerce=int)
    code = _code()
    name = _name("小区名称", 100)
    property_company_id = SelectField("物业公司", coerce=int, description="没有物业的老旧小区选“无物业”。")


def _estate_choices(form: Any, session: Session, member: Staff) -> None:
    community_choices(form, session, member)
    companies = session.scalars(select(PropertyCompany).order_by(PropertyCompany.code))
    form.property_company_id.choices = options([(0, "无物业"), *((c.id, c.name) for c in companies)])


def estate_rows(session: Session, member: Staff) -> list[Estate]:
    """The estates of the communities the staff member administers."""
    ids = community_ids(session, member)
    return list(session.scalars(select(Estate).where(Estate.community_id.in_(ids)).order_by(Estate.code)))


def _company_name(estate: Estate) -> str:
    return names(db_session(), PropertyCompany, {estate.property_company_id}).get(
        estate.property_company_id or 0, "无物业"
    )


register(Resource(
    name="estates", title="小区", audit_type="estate", form=EstateForm, rows=estate_rows,
    columns=(("编码", lambda e: e.code), ("名称", lambda e: e.name), ("物业公司", _company_name)),
    load=places.load_estate,
    save=lambda session, member, obj, form: places.save_estate(
        session, member, obj, community_id=form.community_id.data, code=form.code.data, name=form.name.data,
        property_company_id=none_if_zero(form.property_company_id.data)),
    values=lambda session, e: {"community_id": e.community_id, "code": e.code, "name": e.name,
                               "property_company_id": e.property_company_id or 0},
    choices=_estate_choices,
))  # fmt: skip


class BuildingForm(AdminForm):
    """A building (楼栋): its estate, its grid and its name."""

    estate_id = SelectField("所属小区", coerce=int)
    grid_id = SelectField("所属网格", coerce=int, description="楼栋的诉求由这个网格办理；须与小区同属一个社区。")
    name = _name("楼栋名称", 50)


def _building_choices(form: Any, session: Session, member: Staff) -> None:
    form.estate_id.choices = options((e.id, e.name) for e in estate_rows(session, member))
    form.grid_id.choices = options((g.id, g.name) for g in grid_rows(session, member))


def _building_rows(session: Session, member: Staff) -> list[Building]:
    ids = community_ids(session, member)
    stmt = (
        select(Building).join(Estate, Estate.id == Building.estate_id).where(Estate.community_id.in_(ids))
        .order_by(Estate.code, Building.name)
    )  # fmt: skip
    return list(session.scalars(stmt))


register(Resource(
    name="buildings", title="楼栋", audit_type="building", form=BuildingForm, rows=_building_rows,
    columns=(("小区", lambda b: names(db_session(), Estate, {b.estate_id})[b.estate_id]), ("楼栋", lambda b: b.name),
             ("网格", lambda b: names(db_session(), Grid, {b.grid_id})[b.grid_id])),
    load=places.load_building,
    save=lambda session, member, obj, form: places.save_building(
        session, member, obj, estate_id=form.estate_id.data, grid_id=form.grid_id.data, name=form.name.data),
    values=lambda session, b: {"estate_id": b.estate_id, "grid_id": b.grid_id, "name": b.name},
    choices=_building_choices,
))  # fmt: skip


# ---------------------------------------------------------------- departments and property companies


class DepartmentForm(AdminForm):
    """A department (handling unit outside the grid)."""

    code = _code()
    name = _name("部门名称", 100)
    kind = SelectField("类型", choices=options(admin_units.DEPARTMENT_KINDS.items()))


register(Resource(
    name="departments", title="部门", audit_type="department", form=DepartmentForm,
    rows=lambda session, member: list(session.scalars(select(Department).order_by(Department.code))),
    columns=(("编码", lambda d: d.code), ("名称", lambda d: d.name),
             ("类型", lambda d: admin_units.DEPARTMENT_KINDS.get(d.kind, d.kind))),
    load=lambda session, member, object_id: admin_units.load_department(session, member, object_id),
    save=lambda session, member, obj, form: admin_units.save_department(
        session, member, obj, code=form.code.data, name=form.name.data, kind=form.kind.data),
    values=lambda session, d: {"code": d.code, "name": d.name, "kind": d.kind},
    hint="部门由街道各社区共用；已被其他社区使用的部门只能由街道管理员修改。",
))  # fmt: skip


class CompanyForm(AdminForm):
    """A property company (物业公司)."""

    code = _code()
    name = _name("物业公司名称", 100)


register(Resource(
    name="companies", title="物业公司", audit_type="property_company", form=CompanyForm,
    rows=lambda session, member: list(session.scalars(select(PropertyCompany).order_by(PropertyCompany.code))),
    columns=(("编码", lambda c: c.code), ("名称", lambda c: c.name)),
    load=lambda session, member, object_id: admin_units.load_company(session, member, object_id),
    save=lambda session, member, obj, form: admin_units.save_company(
        session, member, obj, code=form.code.data, name=form.name.data),
    values=lambda session, c: {"code": c.code, "name": c.name},
    hint="物业公司管理的小区在各小区的表单里选择；其他社区的小区也在用的物业公司只能由街道管理员修改。",
))  # fmt: skip


# ---------------------------------------------------------------- staff


class StaffForm(AdminForm):
    """A staff member: name, role and the scope the role needs, phone."""

    community_id = SelectField("所属社区", coerce=int)
    name = _name("姓名", 50)
    role = SelectField("角色")
    grid_id = SelectField("网格（网格员、网格长）", coerce=int)
    department_id = SelectField("部门（部门工作人员）", coerce=int)
    property_company_id = SelectField("物业公司（物业工作人员）", coerce=int)
    phone = StringField("电话", [Optional(), Length(max=20, message="电话最多 20 位。")],
                        render_kw={"inputmode": "tel"})  # fmt: skip


def _staff_choices(form: Any, session: Session, member: Staff) -> None:
    community_choices(form, session, member)
    form.role.choices = options((r, ROLE_LABELS.get(r, r)) for r in admin_staff.grantable_roles(member))
    grids = ((g.id, g.name) for g in grid_rows(session, member))
    form.grid_id.choices = options([(0, "—"), *grids])
    departments = ((d.id, d.name) for d in session.scalars(select(Department).order_by(Department.code)))
    form.department_id.choices = options([(0, "—"), *departments])
    companies = ((c.id, c.name) for c in session.scalars(select(PropertyCompany).order_by(PropertyCompany.code)))
    form.property_company_id.choices = options([(0, "—"), *companies])


def _staff_values(session: Session, s: Staff) -> dict[str, Any]:
    return {"community_id": s.community_id or 0, "name": s.name, "role": s.role, "grid_id": s.grid_id or 0,
            "department_id": s.department_id or 0, "property_company_id": s.property_company_id or 0,
            "phone": s.phone or "", "active": s.active}  # fmt: skip


def _staff_context(session: Session, member: Staff, target: Staff | None, form: Any) -> dict[str, Any]:
    return {"target": target, "link_minutes": int(LINK_TTL.total_seconds() // 60)}


register(Resource(
    name="staff", title="工作人员", audit_type="staff", form=StaffForm,
    rows=lambda session, member: admin_staff.community_staff(session, community_ids(session, member)),
    columns=(("姓名", lambda s: s.name), ("角色", lambda s: ROLE_LABELS.get(s.role, s.role)),
             ("微信", lambda s: "已绑定" if s.openid else "未绑定"),
             ("状态", lambda s: "在职" if s.active else "已停用")),
    load=admin_staff.load_staff,
    save=lambda session, member, obj, form: admin_staff.save_staff(
        session, member, obj, community_id=form.community_id.data, name=form.name.data, role=form.role.data,
        grid_id=none_if_zero(form.grid_id.data), department_id=none_if_zero(form.department_id.data),
        property_company_id=none_if_zero(form.property_company_id.data), phone=form.phone.data),
    values=_staff_values, choices=_staff_choices, extra="console/_admin_staff_actions.html", context=_staff_context,
    hint="新同事首次登录：在其编辑页点“生成一次性登录链接”，把链接发给本人打开即可登录"
         "（与 hongguan staff-login 相同）。",
))  # fmt: skip


@bp.post("/admin/staff/<int:staff_id>/link")
@signed_in
def admin_staff_link(staff_id: int) -> Any:
    """Print a one-time sign-in link for a staff member (as `hongguan staff-login` does), shown once."""
    session, member = db_session(), staff()
    target = admin_staff.load_staff(session, member, staff_id)
    token = issue_link(session, target.id)
    record("issue_sign_in_link", "staff", target.id)
    link = request.host_url.rstrip("/") + f"/console/login/link/{token}"
    body = page("console/admin_staff_link.html", target=target, link=link,
                minutes=int(LINK_TTL.total_seconds() // 60))  # fmt: skip
    session.commit()
    return body


@bp.post("/admin/staff/<int:staff_id>/active")
@signed_in
def admin_staff_active(staff_id: int) -> Any:
    """Deactivate or reactivate a staff member (a deactivated one's sessions and links stop working at once)."""
    session, member = db_session(), staff()
    target = admin_staff.load_staff(session, member, staff_id)
    active = request.form.get("active") == "1"
    admin_staff.set_active(session, member, target, active)
    record("reactivate" if active else "deactivate", "staff", target.id)
    session.commit()
    return redirect(url_for("console_pages.admin_edit", name="staff", object_id=target.id, saved=1), code=303)
