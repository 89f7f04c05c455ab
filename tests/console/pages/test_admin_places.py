"""管理 › communities, grids, estates and buildings: valid create and edit, each validation error in Chinese with a
4xx and nothing saved, another community's object refused, and every change in the audit log."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.audit import AuditEntry
from models.org import Building, Community, Estate, Grid
from models.staff import Staff
from tests.console.pages.conftest import csrf_of

SQUARE = "120.720,31.300\n120.725,31.300\n120.725,31.305\n120.720,31.305"


def _post(browser: FlaskClient, url: str, data: dict[str, Any]) -> Any:
    form = browser.get(url)
    assert form.status_code == 200, form.get_data(as_text=True)
    return browser.post(url, data={"csrf_token": csrf_of(form.get_data(as_text=True)), **data})


def _other_community(session: Session) -> tuple[Community, Grid, Estate, Building]:
    other = Community(code="C-OTHER", name="邻近社区")
    session.add(other)
    session.flush()
    grid = Grid(community_id=other.id, code="OG1", name="邻近一网格")
    estate = Estate(community_id=other.id, code="E-OTHER", name="邻近小区")
    session.add_all([grid, estate])
    session.flush()
    building = Building(estate_id=estate.id, grid_id=grid.id, name="1幢")
    session.add(building)
    session.commit()
    return other, grid, estate, building


def _count(session: Session, model: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)))


def test_a_secretary_creates_a_grid_with_boundary_and_leader_and_it_is_audited(
    session: Session, browser_for: Any, org: Any
) -> None:
    desk = browser_for("secretary")
    worker = org.staff["g2_worker"]
    resp = _post(desk, "/console/admin/grids/new", {
        "community_id": org.community.id, "code": "G4", "name": "第四网格", "leader_id": worker.id,
        "boundary": SQUARE,
    })  # fmt: skip
    assert resp.status_code == 303, resp.get_data(as_text=True)
    grid = session.scalar(select(Grid).where(Grid.code == "G4"))
    assert grid is not None
    assert grid.community_id == org.community.id
    assert grid.boundary["type"] == "Polygon"
    ring = grid.boundary["coordinates"][0]
    assert ring[0] == ring[-1] == [120.72, 31.3]
    assert len(ring) == 5
    session.refresh(worker)
    assert (worker.role, worker.grid_id) == ("grid_leader", grid.id)
    entry = session.scalar(select(AuditEntry).where(AuditEntry.object_type == "grid"))
    assert entry is not None
    assert (entry.action, entry.object_id, entry.staff_id) == ("admin_create", str(grid.id), org.staff["secretary"].id)
    assert "boundary" in entry.detail["fields"]
    page = desk.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已保存" in page
    assert '<svg class="map"' in page
    assert "<polygon points=" in page
    assert "120.720000,31.300000" in page


def test_editing_a_grid_changes_its_name_and_replaces_its_leader(session: Session, browser_for: Any, org: Any) -> None:
    desk = browser_for("secretary")
    grid = org.grids["G1"]
    old_leader, new_leader = org.staff["g1_leader"], org.staff["g1_worker"]
    resp = _post(desk, f"/console/admin/grids/{grid.id}", {
        "community_id": org.community.id, "code": "G1", "name": "第一网格（东）", "leader_id": new_leader.id,
        "boundary": "120.700,31.300\n120.705,31.300\n120.705,31.305\n120.700,31.305",
    })  # fmt: skip
    assert resp.status_code == 303, resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(Grid, grid.id).name == "第一网格（东）"
    assert session.get(Staff, new_leader.id).role == "grid_leader"
    assert session.get(Staff, old_leader.id).role == "grid_worker"
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "admin_update"))
    assert entry is not None
    assert entry.detail["fields"] == ["leader_id", "name"]


def test_a_self_crossing_boundary_is_explained_in_chinese_and_nothing_is_saved(
    session: Session, browser_for: Any, org: Any
) -> None:
    desk = browser_for("secretary")
    bow_tie = "120.72,31.30\n120.725,31.305\n120.725,31.30\n120.72,31.305"
    grids, audits = _count(session, Grid), _count(session, AuditEntry)
    resp = _post(desk, "/console/admin/grids/new", {
        "community_id": org.community.id, "code": "G4", "name": "第四网格", "leader_id": 0, "boundary": bow_tie,
    })  # fmt: skip
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "边界的边相互交叉" in html
    assert 'id="boundary-error"' in html
    assert "第四网格" in html  # what was typed comes back
    assert _count(session, Grid) == grids
    assert _count(session, AuditEntry) == audits


def test_each_grid_field_error_is_shown_next_to_its_field(session: Session, browser_for: Any, org: Any) -> None:
    desk = browser_for("secretary")
    cases = [
        ({"code": "", "name": "第四网格", "boundary": ""}, "code", "请填写编码。", 422),
        ({"code": "第四", "name": "第四网格", "boundary": ""}, "code", "编码只能由字母、数字", 422),
        ({"code": "G4", "name": "", "boundary": ""}, "name", "请填写网格名称。", 422),
        (
            {"code": "G4", "name": "第四网格", "boundary": "120.7,31.3\n北边"},
            "boundary",
            "第 2 行“北边”不是“经度,纬度”格式",
            422,
        ),
        (
            {"code": "G4", "name": "第四网格", "boundary": "31.3,120.7\n31.3,120.8\n31.4,120.8"},
            "boundary",
            "经度在前",
            422,
        ),
        (
            {"code": "G4", "name": "第四网格", "boundary": "120.7,31.3\n120.8,31.3"},
            "boundary",
            "至少需要 3 个不同的点",
            422,
        ),
        (
            {"code": "G4", "name": "第四网格", "boundary": "120.7,31.3\n120.8,31.3\n120.9,31.3"},
            "boundary",
            "围不成一个面",
            422,
        ),
        ({"code": "G1", "name": "第四网格", "boundary": ""}, "code", "编码 G1 已被另一个网格使用", 409),
    ]
    grids = _count(session, Grid)
    for values, field, message, status in cases:
        resp = _post(desk, "/console/admin/grids/new", {"community_id": org.community.id, "leader_id": 0, **values})
        html = resp.get_data(as_text=True)
        assert resp.status_code == status, (values, html)
        assert f'id="{field}-error"' in html, values
        assert message in html.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0], (values, message)
    assert _count(session, Grid) == grids


def test_another_communitys_objects_are_refused_by_url(session: Session, browser_for: Any, org: Any) -> None:
    _, grid, estate, building = _other_community(session)
    desk = browser_for("secretary")
    for url in (f"/console/admin/grids/{grid.id}", f"/console/admin/estates/{estate.id}",
                f"/console/admin/buildings/{building.id}"):  # fmt: skip
        resp = desk.get(url)
        assert resp.status_code == 403, url
        assert "您只能管理本社区的内容" in resp.get_data(as_text=True)
    # A forged POST onto the other community's grid changes nothing.
    own = desk.get(f"/console/admin/grids/{org.grids['G1'].id}").get_data(as_text=True)
    resp = desk.post(f"/console/admin/grids/{grid.id}", data={
        "csrf_token": csrf_of(own), "community_id": org.community.id, "code": "OG1", "name": "改名", "leader_id": 0,
    })  # fmt: skip
    assert resp.status_code == 403
    session.expire_all()
    assert session.get(Grid, grid.id).name == "邻近一网格"
    listing = desk.get("/console/admin/grids/").get_data(as_text=True)
    assert "第一网格" in listing
    assert "邻近一网格" not in listing
    assert desk.get("/console/admin/grids/999999").status_code == 404


def test_a_building_needs_a_grid_of_its_estates_community(session: Session, browser_for: Any, org: Any) -> None:
    _, other_grid, _, _ = _other_community(session)
    desk = browser_for("secretary")
    estate = org.estates["E-XY"]
    resp = _post(desk, "/console/admin/buildings/new", {"estate_id": estate.id, "grid_id": org.grids["G3"].id,
                                                        "name": "5幢"})  # fmt: skip
    assert resp.status_code == 303, resp.get_data(as_text=True)
    made = session.scalar(select(Building).where(Building.estate_id == estate.id, Building.name == "5幢"))
    assert made is not None
    assert made.grid_id == org.grids["G3"].id
    buildings = _count(session, Building)
    resp = _post(
        desk, "/console/admin/buildings/new", {"estate_id": estate.id, "grid_id": other_grid.id, "name": "6幢"}
    )
    assert resp.status_code == 422
    assert "不是有效的选择" in resp.get_data(as_text=True)
    resp = _post(desk, "/console/admin/buildings/new", {"estate_id": estate.id, "grid_id": org.grids["G3"].id,
                                                        "name": "1幢"})  # fmt: skip
    assert resp.status_code == 409
    assert "星苑小区已有名为“1幢”的楼栋" in resp.get_data(as_text=True)
    assert _count(session, Building) == buildings
    resp = _post(desk, f"/console/admin/buildings/{made.id}", {"estate_id": estate.id, "grid_id": org.grids["G3"].id,
                                                               "name": "5号楼"})  # fmt: skip
    assert resp.status_code == 303
    session.expire_all()
    assert session.get(Building, made.id).name == "5号楼"
    actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.object_type == "building"))]
    assert actions == ["admin_create", "admin_update"]


def test_estates_are_created_with_their_property_company(session: Session, browser_for: Any, org: Any) -> None:
    desk = browser_for("community_staff")
    company = org.companies["PC-LH"]
    resp = _post(desk, "/console/admin/estates/new", {"community_id": org.community.id, "code": "E-NEW",
                                                      "name": "新苑", "property_company_id": company.id})  # fmt: skip
    assert resp.status_code == 303, resp.get_data(as_text=True)
    estate = session.scalar(select(Estate).where(Estate.code == "E-NEW"))
    assert estate is not None
    assert estate.property_company_id == company.id
    resp = _post(desk, "/console/admin/estates/new", {"community_id": org.community.id, "code": "E-OLD",
                                                      "name": "", "property_company_id": 0})  # fmt: skip
    assert resp.status_code == 422
    assert "请填写小区名称。" in resp.get_data(as_text=True)
    assert session.scalar(select(Estate).where(Estate.code == "E-OLD")) is None


def test_communities_are_created_only_by_a_street_admin(session: Session, browser_for: Any, org: Any) -> None:
    desk = browser_for("secretary")
    assert desk.get("/console/admin/communities/new").status_code == 403
    values = {"code": org.community.code, "name": "绿洲社区", "street": "城南街道"}
    resp = _post(desk, f"/console/admin/communities/{org.community.id}", values)
    assert resp.status_code == 303
    session.expire_all()
    assert session.get(Community, org.community.id).street == "城南街道"
    admin = Staff(name="街道管理员", role="admin")
    session.add(admin)
    session.commit()
    org.staff["street_admin"] = admin
    street = browser_for("street_admin")
    resp = _post(street, "/console/admin/communities/new", {"code": "C-NEW", "name": "新社区", "street": "城南街道"})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    assert session.scalar(select(Community).where(Community.code == "C-NEW")) is not None


def test_roles_without_administration_get_a_403_page(browser_for: Any) -> None:
    leader = browser_for("g1_leader")
    resp = leader.get("/console/admin/grids/")
    assert resp.status_code == 403
    assert "只有管理员、社区书记和社区工作人员可以使用管理功能" in resp.get_data(as_text=True)
    assert "管理</a>" not in leader.get("/console/").get_data(as_text=True)
