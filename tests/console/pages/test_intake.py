"""Staff intake (代录): a phone call or a walk-in filed for a resident, or a grid worker's patrol report, enters
the same loop (classified, routed, dispatched) with its channel recorded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.appeal import Appeal, AppealEvent
from models.resident import Resident
from tests.console.pages.conftest import csrf_of


def test_a_phone_call_is_filed_routed_and_dispatched_with_its_channel(
    session: Session, browser_for: Any, org: Any, routed: None
) -> None:
    desk = browser_for("community_staff")
    form = desk.get("/console/intake").get_data(as_text=True)
    assert "电话来电" in form
    assert "网格报事" not in form
    resp = desk.post("/console/intake", data={
        "csrf_token": csrf_of(form), "channel": "phone", "building_id": str(org.buildings["E-LZ-1"].id),
        "text": "3号楼门口垃圾桶满了好几天没人清运，味道很大", "phone": "13812345678", "name": "张阿姨",
    })  # fmt: skip
    assert resp.status_code == 303, resp.get_data(as_text=True)
    appeal = session.scalar(select(Appeal).order_by(Appeal.id.desc()))
    assert appeal.channel == "phone"
    assert appeal.status == "dispatched"
    assert appeal.handler_type == "grid"
    assert appeal.grid_id == org.grids["G1"].id
    assert session.get(Resident, appeal.resident_id).phone == "13812345678"
    note = session.scalar(select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "note"))
    assert note is not None
    assert note.actor_id == org.staff["community_staff"].id
    assert "电话来电" in (note.note or "")
    page = desk.get(resp.headers["Location"]).get_data(as_text=True)
    assert "电话来电" in page
    assert appeal.number in page


def test_intake_errors_are_shown_next_to_their_fields(browser_for: Any, org: Any) -> None:
    desk = browser_for("community_staff")
    form = desk.get("/console/intake").get_data(as_text=True)
    resp = desk.post(
        "/console/intake", data={"csrf_token": csrf_of(form), "channel": "phone", "text": "漏水", "phone": "12"}
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "请描述问题" in html
    assert "电话号码格式不正确" in html
    assert "请选择问题所在的楼栋" in html


def test_a_grid_worker_reports_from_patrol_in_their_own_grid_only(
    session: Session, browser_for: Any, org: Any, routed: None
) -> None:
    worker = browser_for("g1_worker")
    form = worker.get("/console/intake").get_data(as_text=True)
    assert "网格报事" in form
    text = "巡查发现1幢楼道堆放大量纸箱杂物，堵塞消防通道"
    base = {"csrf_token": csrf_of(form), "channel": "patrol", "text": text}
    ok = worker.post("/console/intake", data={**base, "building_id": str(org.buildings["E-LZ-1"].id)})
    assert ok.status_code == 303, ok.get_data(as_text=True)
    appeal = session.scalar(select(Appeal).order_by(Appeal.id.desc()))
    assert appeal.channel == "patrol"
    assert appeal.resident_id is None
    assert appeal.status in ("dispatched", "triaged")
    refused = worker.post("/console/intake", data={**base, "building_id": str(org.buildings["E-XY-2"].id)})
    assert refused.status_code == 403
    assert "只能为本网格" in refused.get_data(as_text=True)
