"""管理 › departments, property companies and staff: create and edit, errors in Chinese with nothing saved, roles
and scopes checked on every object, one-time sign-in links, deactivation, and the audit log."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.audit import AuditEntry
from models.org import Community, Department, Estate, PropertyCompany
from models.staff import Staff
from tests.console.pages.conftest import csrf_of
from tests.console.pages.test_admin_places import _post


def _staff_form(org: Any, **values: Any) -> dict[str, Any]:
    return {"community_id": org.community.id, "name": "陈网格", "role": "grid_worker", "grid_id": org.grids["G2"].id,
            "department_id": 0, "property_company_id": 0, "phone": "", **values}  # fmt: skip


def test_a_secretary_adds_a_grid_worker_and_changes_their_role_and_scope(
    session: Session, browser_for: Any, org: Any
) -> None:
    desk = browser_for("secretary")
    resp = _post(desk, "/console/admin/staff/new", _staff_form(org, phone="13900001111"))
    assert resp.status_code == 303, resp.get_data(as_text=True)
    person = session.scalar(select(Staff).where(Staff.name == "陈网格"))
    assert person is not None
    assert (person.role, person.grid_id, person.community_id, person.phone) == (
        "grid_worker", org.grids["G2"].id, org.community.id, "13900001111")  # fmt: skip
    resp = _post(
        desk,
        f"/console/admin/staff/{person.id}",
        _staff_form(
            org,
            role="department_staff",
            grid_id=org.grids["G2"].id,
            department_id=org.departments["police"].id,
            phone="13900001111",
        ),
    )
    assert resp.status_code == 303, resp.get_data(as_text=True)
    session.expire_all()
    person = session.get(Staff, person.id)
    assert (person.role, person.grid_id, person.department_id) == (
        "department_staff",
        None,
        org.departments["police"].id,
    )
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.object_type == "staff").order_by(AuditEntry.id)))
    assert [e.action for e in entries] == ["admin_create", "admin_update"]
    assert "13900001111" not in str([e.detail for e in entries])  # field names only, never the phone itself
    assert set(entries[1].detail["fields"]) == {"department_id", "grid_id", "role"}


def test_staff_form_errors_are_in_chinese_next_to_their_fields_and_nothing_is_saved(
    session: Session, browser_for: Any, org: Any
) -> None:
    desk = browser_for("community_staff")
    before = session.scalar(select(func.count()).select_from(Staff))
    cases = [
        (_staff_form(org, grid_id=0), "grid_id", "网格员、网格长须选择本社区的一个网格。", 422),
        (_staff_form(org, role="department_staff"), "department_id", "部门工作人员须选择所属部门。", 422),
        (_staff_form(org, role="property_staff"), "property_company_id", "物业工作人员须选择所属物业公司。", 422),
        (_staff_form(org, phone="12345"), "phone", "电话号码格式不正确", 422),
        (_staff_form(org, name=""), "name", "请填写姓名。", 422),
        # community staff cannot make a secretary: not one of the offered choices
        (_staff_form(org, role="community_secretary"), "role", "不是有效的选择", 422),
    ]
    for values, field, message, status in cases:
        resp = _post(desk, "/console/admin/staff/new", values)
        html = resp.get_data(as_text=True)
        assert resp.status_code == status, (values, html)
        assert message in html.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0], (field, message)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Staff)) == before


def test_a_secretary_cannot_edit_staff_of_another_community_or_above_their_role(
    session: Session, browser_for: Any, org: Any
) -> None:
    other = Community(code="C-OTHER", name="邻近社区")
    session.add(other)
    session.flush()
    stranger = Staff(name="外社区书记", role="community_secretary", community_id=other.id)
    admin = Staff(name="社区管理员", role="admin", community_id=org.community.id)
    session.add_all([stranger, admin])
    session.commit()
    desk = browser_for("secretary")
    assert desk.get(f"/console/admin/staff/{stranger.id}").status_code == 403
    resp = desk.get(f"/console/admin/staff/{admin.id}")
    assert resp.status_code == 403
    assert "角色高于您能授予的角色" in resp.get_data(as_text=True)
    listing = desk.get("/console/admin/staff/").get_data(as_text=True)
    assert "外社区书记" not in listing
    assert "李网格长" in listing


def test_the_staff_page_prints_a_one_time_sign_in_link_that_signs_in(
    app: Any, session: Session, browser_for: Any, org: Any
) -> None:
    desk = browser_for("secretary")
    target = org.staff["g3_worker"]
    page = desk.get(f"/console/admin/staff/{target.id}").get_data(as_text=True)
    assert f"hongguan staff-login {target.id}" in page
    resp = desk.post(f"/console/admin/staff/{target.id}/link", data={"csrf_token": csrf_of(page)})
    assert resp.status_code == 200
    link = re.search(r'id="sign-in-link">([^<]+)<', resp.get_data(as_text=True))
    assert link is not None
    path = link.group(1).split("://", 1)[1].split("/", 1)[1]
    newcomer = app.test_client()
    confirm = newcomer.get("/" + path)
    assert confirm.status_code == 200
    done = newcomer.post("/" + path, data={"csrf_token": csrf_of(confirm.get_data(as_text=True))})
    assert done.status_code == 302
    assert "孙网格" in newcomer.get("/console/").get_data(as_text=True)
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "issue_sign_in_link")) is not None


def test_deactivating_a_staff_member_ends_their_sessions(session: Session, browser_for: Any, org: Any) -> None:
    worker = browser_for("g1_worker")
    assert worker.get("/console/").status_code == 200
    desk = browser_for("secretary")
    target = org.staff["g1_worker"]
    page = desk.get(f"/console/admin/staff/{target.id}").get_data(as_text=True)
    resp = desk.post(f"/console/admin/staff/{target.id}/active", data={"csrf_token": csrf_of(page), "active": "0"})
    assert resp.status_code == 303
    session.expire_all()
    assert session.get(Staff, target.id).active is False
    assert worker.get("/console/").status_code == 302  # back to sign-in
    me = org.staff["secretary"]
    resp = desk.post(f"/console/admin/staff/{me.id}/active", data={"csrf_token": csrf_of(page), "active": "0"})
    assert resp.status_code == 403
    assert "不能停用自己的账号" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(Staff, me.id).active is True
    actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.object_type == "staff"))]
    assert actions == ["deactivate"]


def test_departments_and_companies_are_created_and_shared_ones_are_kept_for_street_admins(
    session: Session, browser_for: Any, org: Any
) -> None:
    desk = browser_for("secretary")
    resp = _post(desk, "/console/admin/departments/new", {"code": "water", "name": "自来水公司", "kind": "enterprise"})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    assert session.scalar(select(Department).where(Department.code == "water")).kind == "enterprise"
    resp = _post(
        desk, "/console/admin/departments/new", {"code": "police", "name": "另一个派出所", "kind": "government"}
    )
    assert resp.status_code == 409
    assert "编码 police 已被另一个部门使用" in resp.get_data(as_text=True)
    resp = _post(desk, "/console/admin/companies/new", {"code": "PC-NEW", "name": ""})
    assert resp.status_code == 422
    assert "请填写物业公司名称。" in resp.get_data(as_text=True)
    assert session.scalar(select(PropertyCompany).where(PropertyCompany.code == "PC-NEW")) is None
    resp = _post(desk, "/console/admin/companies/new", {"code": "PC-NEW", "name": "新物业"})
    assert resp.status_code == 303
    # A company another community's estate uses is not renamed by this community.
    session.expire_all()
    other = Community(code="C-OTHER", name="邻近社区")
    session.add(other)
    session.flush()
    shared = org.companies["PC-XY"]
    session.add(Estate(community_id=other.id, code="E-OTHER", name="邻近小区", property_company_id=shared.id))
    session.commit()
    resp = desk.get(f"/console/admin/companies/{shared.id}")
    assert resp.status_code == 200
    resp = desk.post(
        f"/console/admin/companies/{shared.id}",
        data={"csrf_token": csrf_of(resp.get_data(as_text=True)), "code": "PC-XY", "name": "改名物业"},
    )
    assert resp.status_code == 403
    assert "只有街道管理员可以修改" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(PropertyCompany, shared.id).name == "星苑物业"
