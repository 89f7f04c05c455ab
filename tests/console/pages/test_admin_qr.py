"""管理 › 楼栋二维码: the printable sheet asks WeChat (the sandbox) for one permanent QR scene per building, draws
each as SVG with print CSS, and a resident's scan (SCAN or subscribe through the real webhook) binds them to the
building."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import clock as project_clock
from models.audit import AuditEntry
from models.org import Building, Community, Estate, Grid, QRScene
from models.resident import Resident
from tests.console.pages.conftest import csrf_of, scan
from tests.console.pages.test_admin_places import _post

QR_CREATE = "/cgi-bin/qrcode/create"


def _issue(desk: Any, **filters: Any) -> Any:
    page = desk.get("/console/admin/qr", query_string=filters).get_data(as_text=True)
    return desk.post("/console/admin/qr", data={"csrf_token": csrf_of(page), **filters})


def test_the_sheet_issues_one_permanent_qr_per_building_once_and_draws_them(
    session: Session, browser_for: Any, org: Any, sandbox: Any
) -> None:
    desk = browser_for("secretary")
    before = desk.get("/console/admin/qr").get_data(as_text=True)
    assert before.count('class="qr-card"') == len(org.buildings)
    assert "10 栋楼尚未生成" in before
    resp = _issue(desk)
    assert resp.status_code == 303
    issued = [body for body in sandbox.qr_codes().values() if body["action_name"] == "QR_LIMIT_STR_SCENE"]
    assert len(issued) == len(org.buildings)
    assert all("expire_seconds" not in body for body in issued)
    scenes = {body["action_info"]["scene"]["scene_str"] for body in issued}
    assert "b-e-lz-1" in scenes  # the scene imported for 绿洲花园 1幢 is reused, not replaced
    assert f"bld-{org.buildings['E-XY-3'].id}" in scenes
    sheet = desk.get(resp.headers["Location"]).get_data(as_text=True)
    assert sheet.count('aria-label="绿洲花园 ') == 6
    assert sheet.count("<svg") == len(org.buildings)
    assert "尚未生成" not in sheet
    assert 'id="issue-qr"' not in sheet
    with desk.get("/console/static/console.css") as css:
        assert "@media print" in css.get_data(as_text=True)
    _issue(desk)  # nothing left to issue: WeChat is not asked again
    assert len(sandbox.qr_codes()) == len(org.buildings)
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "issue_building_qr"))
    assert entry is not None
    assert entry.detail["issued"] == len(org.buildings)


def test_scanning_a_building_qr_binds_the_resident_through_the_webhook(
    session: Session, browser_for: Any, org: Any, sandbox: Any, wechat: Any
) -> None:
    desk = browser_for("secretary")
    target = org.buildings["E-XY-3"]
    assert _issue(desk, estate_id=org.estates["E-XY"].id).status_code == 303
    (ticket, body), *_ = [
        (t, b) for t, b in sandbox.qr_codes().items() if b["action_info"]["scene"]["scene_str"] == f"bld-{target.id}"
    ]
    scene = body["action_info"]["scene"]["scene_str"]
    # A follower scans it: SCAN with the scene as EventKey.
    follower = "oConsoleQrFollower00000000001"
    wechat.as_user(follower).say("/subscribe")
    reply = scan(wechat, follower, scene, ticket)
    assert reply is not None
    assert "星苑小区" in reply
    assert "3幢" in reply
    session.expire_all()
    resident = session.scalar(select(Resident).where(Resident.openid == follower))
    assert (resident.building_id, resident.grid_id, resident.community_id) == (
        target.id, org.grids["G3"].id, org.community.id)  # fmt: skip
    # Someone new follows by scanning it: subscribe with EventKey qrscene_<scene>.
    newcomer = "oConsoleQrNewcomer00000000001"
    project_clock.advance(timedelta(seconds=1))
    scan(wechat, newcomer, f"qrscene_{scene}", ticket, event="subscribe")
    session.expire_all()
    assert session.scalar(select(Resident.building_id).where(Resident.openid == newcomer)) == target.id


def test_a_building_moved_to_another_grid_binds_scanners_to_its_new_grid(
    session: Session, browser_for: Any, org: Any, sandbox: Any, wechat: Any
) -> None:
    desk = browser_for("secretary")
    moved = org.buildings["E-LZ-1"]  # its imported scene b-e-lz-1 names grid G1
    assert _issue(desk, grid_id=org.grids["G1"].id).status_code == 303
    values = {"estate_id": moved.estate_id, "grid_id": org.grids["G2"].id, "name": "1幢"}
    resp = _post(desk, f"/console/admin/buildings/{moved.id}", values)
    assert resp.status_code == 303
    ticket = session.scalar(select(QRScene.ticket).where(QRScene.scene == "b-e-lz-1"))
    assert ticket is not None
    follower = "oConsoleQrMoved000000000000001"
    wechat.as_user(follower).say("/subscribe")
    scan(wechat, follower, "b-e-lz-1", ticket)
    session.expire_all()
    assert session.scalar(select(Resident.grid_id).where(Resident.openid == follower)) == org.grids["G2"].id


def test_the_sheet_shows_only_the_administrators_community_and_keeps_what_wechat_issued(
    session: Session, browser_for: Any, org: Any, sandbox: Any
) -> None:
    other = Community(code="C-OTHER", name="邻近社区")
    session.add(other)
    session.flush()
    grid = Grid(community_id=other.id, code="OG1", name="邻近一网格")
    estate = Estate(community_id=other.id, code="E-OTHER", name="邻近小区")
    session.add_all([grid, estate])
    session.flush()
    session.add(Building(estate_id=estate.id, grid_id=grid.id, name="9幢"))
    session.commit()
    desk = browser_for("secretary")
    assert "邻近小区" not in desk.get("/console/admin/qr").get_data(as_text=True)
    assert "邻近小区" not in desk.get(f"/console/admin/qr?estate_id={estate.id}").get_data(as_text=True)
    sandbox.fail(QR_CREATE, status=503, times=3)  # WeChat fails the first building (the client retries once)
    resp = _issue(desk, estate_id=org.estates["E-XY"].id)
    assert resp.status_code == 303
    page = desk.get(resp.headers["Location"]).get_data(as_text=True)
    assert re.search(r"有 \d+ 张二维码暂时未能从微信生成", page)
    session.expire_all()
    kept = session.scalars(select(QRScene).where(QRScene.ticket.is_not(None))).all()
    assert 0 < len(kept) < 4
    _issue(desk, estate_id=org.estates["E-XY"].id)
    session.expire_all()
    xy = [b.id for b in org.buildings.values() if b.estate_id == org.estates["E-XY"].id]
    assert session.scalars(select(QRScene.ticket).where(QRScene.building_id.in_(xy))).all().count(None) == 0


def test_roles_without_administration_cannot_issue_codes(browser_for: Any, sandbox: Any) -> None:
    leader = browser_for("g1_leader")
    assert leader.get("/console/admin/qr").status_code == 403
    inbox = leader.get("/console/").get_data(as_text=True)
    resp = leader.post("/console/admin/qr", data={"csrf_token": csrf_of(inbox)})
    assert resp.status_code == 403
    assert sandbox.qr_codes() == {}
