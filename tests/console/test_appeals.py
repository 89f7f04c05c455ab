"""The console API: scoped lists, detail with timeline, and the workflow steps with role and scope checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.appeal import Appeal, AppealAttachment


def post(client: FlaskClient, headers: dict, appeal: Appeal, step: str, body: dict | None = None) -> Any:
    return client.post(f"/console/api/appeals/{appeal.public_id}/{step}", json=body or {}, headers=headers)


def test_grid_appeal_through_the_console(
    client: FlaskClient, org: Any, token: Callable, make_appeal: Callable, run_jobs: Any, sandbox: Any
) -> None:
    appeal = make_appeal()
    leader, worker = token("g1_leader"), token("g1_worker")
    assert post(client, worker, appeal, "dispatch", {"handler_type": "grid"}).status_code == 403
    r = post(client, leader, appeal, "dispatch", {"handler_type": "grid", "note": "请网格员处理"})
    assert r.status_code == 200, r.json
    assert r.json["status"] == "dispatched"
    assert r.json["due_at"].startswith("2026-11-25T02:00")

    detail = client.get(f"/console/api/appeals/{appeal.public_id}", headers=worker).json
    assert detail["allowed_actions"][:2] == ["accept", "return"]
    assert post(client, worker, appeal, "resolve", {"reply": "已处理"}).status_code == 409  # not accepted yet
    assert post(client, worker, appeal, "accept").json["status"] == "accepted"
    assert post(client, worker, appeal, "start").json["status"] == "in_progress"
    r = post(client, worker, appeal, "notes", {"text": "已联系物业抽水"})
    assert r.status_code == 200
    assert r.json["timeline"][-1]["action"] == "note"
    r = post(client, worker, appeal, "attachments", {"media_id": "MEDIA_123", "note": "现场照片"})
    assert r.status_code == 200
    assert r.json["attachments"][0]["media_id"] == "MEDIA_123"
    bad = post(client, worker, appeal, "attachments", {"url": "javascript:alert(1)"})
    assert bad.status_code == 422
    r = post(client, worker, appeal, "resolve", {"reply": "积水已排净，排水口已疏通"})
    assert r.status_code == 200
    assert r.json["status"] == "resolved"
    assert [i["action"] for i in r.json["timeline"]] == [
        "create", "dispatch", "accept", "start", "note", "attach", "resolve",
    ]  # fmt: skip
    run_jobs()
    assert sandbox.sent(org.staff["g1_worker"].openid, "template")  # the dispatch reached the grid worker


def test_scoping_hides_other_units_appeals(
    client: FlaskClient, session: Session, org: Any, token: Callable, make_appeal: Callable
) -> None:
    lh = make_appeal("E-LZ-1", category="property")
    xy = make_appeal("E-XY-2", category="property")
    secretary = token("secretary")
    for appeal, company in ((lh, "PC-LH"), (xy, "PC-XY")):
        r = post(
            client, secretary, appeal, "dispatch",
            {"handler_type": "property_company", "property_company_id": org.companies[company].id},
        )  # fmt: skip
        assert r.status_code == 200, r.json

    mine = client.get("/console/api/appeals", headers=token("pc_lh")).json
    assert [i["public_id"] for i in mine["items"]] == [lh.public_id]
    assert mine["total"] == 1
    # Another company's appeal does not exist as far as pc_lh can tell: 404, not 403.
    assert client.get(f"/console/api/appeals/{xy.public_id}", headers=token("pc_lh")).status_code == 404
    assert post(client, token("pc_lh"), xy, "accept").status_code == 404
    assert post(client, token("pc_lh"), xy, "notes", {"text": "看看"}).status_code == 404
    assert post(client, token("pc_xy"), xy, "accept").status_code == 200
    # Grid staff see their grid only; the secretary sees the whole community; a department sees nothing here.
    assert client.get("/console/api/appeals", headers=token("g3_worker")).json["total"] == 1
    assert client.get("/console/api/appeals", headers=token("g2_leader")).json["total"] == 0
    assert client.get("/console/api/appeals", headers=token("dept_police")).json["total"] == 0
    everything = client.get("/console/api/appeals?status=dispatched", headers=secretary).json
    assert {i["public_id"] for i in everything["items"]} == {lh.public_id}
    assert client.get("/console/api/appeals?status=open&limit=1", headers=secretary).json["total"] == 2
    assert client.get("/console/api/appeals?limit=500", headers=secretary).status_code == 422
    bogus = client.get("/console/api/appeals?status=bogus", headers=secretary)
    assert (bogus.status_code, bogus.json["code"]) == (422, "validation_error")


def test_return_twice_then_arbitration_over_http(
    client: FlaskClient, org: Any, token: Callable, make_appeal: Callable
) -> None:
    appeal = make_appeal(category="city_order")
    leader = token("g1_leader")
    chengguan, police = org.departments["chengguan"].id, org.departments["police"].id
    assert (
        post(client, leader, appeal, "dispatch", {"handler_type": "department", "department_id": chengguan}).status_code
        == 200
    )
    bad = post(client, token("dept_chengguan"), appeal, "return", {"reason_code": "busy", "text": "没空处理"})
    assert bad.status_code == 422
    r = post(client, token("dept_chengguan"), appeal, "return", {"reason_code": "wrong_area", "text": "不在辖区"})
    assert r.status_code == 200
    assert r.json["status"] == "returned"
    assert r.json["return_count"] == 1
    assert (
        post(client, leader, appeal, "dispatch", {"handler_type": "department", "department_id": police}).status_code
        == 200
    )
    r = post(client, token("dept_police"), appeal, "return", {"reason_code": "overlapping_remit", "text": "非治安"})
    assert r.json["return_count"] == 2
    refused = post(client, leader, appeal, "dispatch", {"handler_type": "department", "department_id": chengguan})
    assert refused.status_code == 409
    assert refused.json["code"] == "arbitration_required"
    assert (
        post(client, leader, appeal, "arbitrate", {"decision": "dispatch", "handler_type": "grid"}).status_code == 403
    )
    detail = client.get(f"/console/api/appeals/{appeal.public_id}", headers=token("secretary")).json
    assert "arbitrate" in detail["allowed_actions"]
    assert "dispatch" not in detail["allowed_actions"]
    r = post(
        client, token("secretary"), appeal, "arbitrate",
        {"decision": "dispatch", "handler_type": "department", "department_id": chengguan, "note": "审定"},
    )  # fmt: skip
    assert r.status_code == 200
    assert r.json["status"] == "dispatched"
    staff_view = [i for i in r.json["timeline"] if i["action"] == "return"]
    assert [i["reason_code"] for i in staff_view] == ["wrong_area", "overlapping_remit"]


def test_close_and_recategorise(
    client: FlaskClient, session: Session, org: Any, token: Callable, make_appeal: Callable
) -> None:
    appeal = make_appeal()
    leader = token("g1_leader")
    r = post(client, leader, appeal, "close", {"code": "unresolved"})
    assert r.status_code == 400
    assert "说明原因" in r.json["message"]
    assert post(client, leader, appeal, "close", {"code": "withdrawn"}).status_code == 422
    other = make_appeal()
    r = post(client, leader, other, "recategorise", {"category": "noise", "note": "实为噪音"})
    assert r.status_code == 200, r.json
    assert r.json["category"] == "noise"
    assert any(i["action"] == "recategorise" for i in r.json["timeline"])
    r = post(client, leader, appeal, "close", {"code": "duplicate", "note": "与另一诉求相同"})
    assert r.status_code == 200
    assert r.json["closure_code"] == "duplicate"
    assert post(client, leader, appeal, "notes", {"text": "补充"}).status_code == 409
    assert session.scalars(select(AppealAttachment)).all() == []
    session.commit()
    assert json.dumps(r.json, ensure_ascii=False).count("与另一诉求相同") >= 1
