"""The co-building staff API: units, lists, one-click orders with 接单, suggestions, figures; scopes and refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from console.auth import issue_staff_token
from services.appeals.calendar import seed_calendar
from services.cobuilding.demo import seed_units


@pytest.fixture
def units(session: Session, org: Any, clock: Any) -> Any:
    """The demo member units with their 兼职委员 logins, committed."""
    seed_calendar(session)
    seeded = seed_units(session, org.community.id, org.staff["secretary"])
    session.commit()
    return seeded


@pytest.fixture
def unit_token(session: Session, units: Any) -> Any:
    """Authorization headers of a unit's 兼职委员 login, by unit code."""

    def headers(code: str) -> dict[str, str]:
        raw = issue_staff_token(session, units.logins[code].id)
        session.commit()
        return {"Authorization": f"Bearer {raw}"}

    return headers


def _resource(client, headers, clock, **fields):
    body = {
        "kind": "expertise",
        "title": "律师法律咨询",
        "description": "律师解答婚姻继承劳动纠纷",
        "capacity": 3,
        "unit_label": "次",
        "available_from": (clock.now() - timedelta(days=1)).isoformat(),
        "available_until": (clock.now() + timedelta(days=30)).isoformat(),
        **fields,
    }
    r = client.post("/console/api/cobuilding/resources", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_a_unit_publishes_a_secretary_orders_and_the_unit_accepts(client, token, unit_token, units, clock):
    law = unit_token("CB-LAW")
    res = _resource(client, law, clock)
    assert res["unit_name"] == "明德律师事务所"
    assert res["contact_phone"] == "13912340005"  # the unit sees its own contact in full

    leader = token("g1_leader")
    listed = client.get("/console/api/cobuilding/resources?orderable=true", headers=leader).get_json()
    item = next(i for i in listed["items"] if i["id"] == res["id"])
    assert item["contact_phone"] == "139****0005"  # masked for a grid branch

    need = client.post("/console/api/cobuilding/needs", json={"title": "居民遇到劳动合同纠纷", "beneficiaries": 6},
                       headers=leader).get_json()  # fmt: skip
    sugg = client.get(f"/console/api/cobuilding/needs/{need['id']}/suggestions", headers=leader).get_json()
    assert sugg["items"][0]["resource_id"] == res["id"]
    assert "劳动" in sugg["items"][0]["shared_keywords"]

    r = client.post("/console/api/cobuilding/orders", json={"resource_id": res["id"], "need_id": need["id"]},
                    headers=leader)  # fmt: skip
    assert r.status_code == 201, r.get_json()
    order = r.get_json()
    assert (order["status"], order["beneficiaries"]) == ("placed", 6)
    assert "accept" not in order["allowed_actions"]

    other = unit_token("CB-BANK")
    assert client.post(f"/console/api/cobuilding/orders/{order['id']}/accept", headers=other).status_code == 404
    assert client.get("/console/api/cobuilding/orders", headers=other).get_json()["total"] == 0

    r = client.post(f"/console/api/cobuilding/orders/{order['id']}/decline", json={"reason": ""}, headers=law)
    assert (r.status_code, r.get_json()["code"]) == (400, "reason_required")
    r = client.post(f"/console/api/cobuilding/orders/{order['id']}/accept", headers=law)
    assert r.status_code == 200
    assert r.get_json()["status"] == "accepted"
    r = client.post(f"/console/api/cobuilding/orders/{order['id']}/accept", headers=law)
    assert (r.status_code, r.get_json()["code"]) == (409, "invalid_transition")

    at = (clock.now() + timedelta(days=2)).isoformat()
    assert client.post(f"/console/api/cobuilding/orders/{order['id']}/schedule", json={"at": at},
                       headers=law).status_code == 200  # fmt: skip
    assert client.post(f"/console/api/cobuilding/orders/{order['id']}/deliver", headers=law).status_code == 200
    assert client.post(f"/console/api/cobuilding/orders/{order['id']}/confirm", headers=law).status_code == 200
    r = client.post(f"/console/api/cobuilding/orders/{order['id']}/confirm", headers=leader)
    assert r.get_json()["status"] == "confirmed"
    r = client.post(f"/console/api/cobuilding/orders/{order['id']}/evaluate", json={"score": 5, "text": "专业"},
                    headers=leader)  # fmt: skip
    assert (r.status_code, r.get_json()["status"], r.get_json()["score"]) == (200, "evaluated", 5)

    month = clock.now().astimezone(clock.LOCAL_TZ).strftime("%Y-%m")
    own = client.get(f"/console/api/cobuilding/figures?month={month}", headers=law).get_json()
    assert [u["unit_name"] for u in own["units"]] == ["明德律师事务所"]
    assert own["units"][0]["orders_completed"] == 1
    assert own["units"][0]["average_score"] == 5.0
    community = client.get(f"/console/api/cobuilding/figures?month={month}", headers=token("secretary")).get_json()
    assert len(community["units"]) == len(units.units)
    assert community["total"]["beneficiaries"] == 6


def test_an_order_over_capacity_and_on_an_expired_resource_answer_409(client, token, unit_token, clock):
    until = (clock.now() + timedelta(hours=2)).isoformat()
    res = _resource(client, unit_token("CB-SOCIAL"), clock, capacity=2, available_until=until)
    leader = token("g2_leader")
    r = client.post("/console/api/cobuilding/orders", json={"resource_id": res["id"], "quantity": 3}, headers=leader)
    assert (r.status_code, r.get_json()["code"], r.get_json()["details"]) == (409, "over_capacity", {"remaining": 2})
    clock.advance(timedelta(hours=3))
    r = client.post("/console/api/cobuilding/orders", json={"resource_id": res["id"]}, headers=leader)
    assert (r.status_code, r.get_json()["code"]) == (409, "resource_expired")


def test_units_and_members_are_managed_by_the_community_only(client, token, units, unit_token):
    body = {"code": "CB-NEW", "name": "湖西小学", "kind": "school", "member_from": "2026-09-01",
            "contact_phone": "13800001234"}  # fmt: skip
    assert client.post("/console/api/cobuilding/units", json=body, headers=token("g1_leader")).status_code == 403
    assert client.post("/console/api/cobuilding/units", json=body, headers=unit_token("CB-LAW")).status_code == 403
    r = client.post("/console/api/cobuilding/units", json=body, headers=token("secretary"))
    assert r.status_code == 201
    unit = r.get_json()
    assert unit["kind_label"] == "学校"
    r = client.post(f"/console/api/cobuilding/units/{unit['id']}/members",
                    json={"name": "刘老师", "serves_from": "2026-09-01", "phone": "13700002222"},
                    headers=token("secretary"))  # fmt: skip
    assert r.get_json()["members"][0]["phone"] == "13700002222"
    seen = client.get(f"/console/api/cobuilding/units/{unit['id']}", headers=token("g1_leader")).get_json()
    assert seen["contact_phone"] == "138****1234"
    assert seen["members"][0]["phone"] == "137****2222"
    assert client.get(f"/console/api/cobuilding/units/{unit['id']}", headers=unit_token("CB-LAW")).status_code == 404
    listed = client.get("/console/api/cobuilding/units", headers=unit_token("CB-LAW")).get_json()
    assert [u["code"] for u in listed["items"]] == ["CB-LAW"]


def test_a_project_pairs_needs_with_units_and_closes_with_a_result(client, token, units, unit_token, clock):
    secretary = token("secretary")
    need = client.post("/console/api/cobuilding/needs", json={"title": "老人不会用智能手机"},
                       headers=secretary).get_json()  # fmt: skip
    body = {"title": "银龄数字课堂", "goal": "教会一百位老人用手机", "starts_on": "2026-11-01",
            "ends_on": "2026-12-31", "budget_yuan": 8000,
            "links": [{"unit_id": units.units["CB-BANK"].id, "need_id": need["id"]}]}  # fmt: skip
    r = client.post("/console/api/cobuilding/projects", json=body, headers=secretary)
    assert r.status_code == 201, r.get_json()
    project = r.get_json()
    bank = unit_token("CB-BANK")
    r = client.post(f"/console/api/cobuilding/projects/{project['id']}/progress",
                    json={"text": "已开课三次", "progress": 40}, headers=bank)  # fmt: skip
    assert r.get_json()["progress"] == 40
    other = unit_token("CB-LAW")
    assert client.get("/console/api/cobuilding/projects", headers=other).get_json()["total"] == 0
    r = client.post(f"/console/api/cobuilding/projects/{project['id']}/close", json={"result": "x"}, headers=bank)
    assert r.status_code == 403
    r = client.post(f"/console/api/cobuilding/projects/{project['id']}/close",
                    json={"result": "112 位老人学会视频通话", "photos": ["https://example.org/1.jpg"]},
                    headers=secretary)  # fmt: skip
    closed = r.get_json()
    assert (closed["status"], closed["progress"], closed["photos"]) == ("closed", 100, ["https://example.org/1.jpg"])
    r = client.post(f"/console/api/cobuilding/projects/{project['id']}/progress",
                    json={"text": "又一次", "progress": 50}, headers=secretary)  # fmt: skip
    assert r.status_code == 409


def test_a_need_raised_from_an_appeal_keeps_the_link_and_redacts_the_text(client, token, make_appeal):
    appeal = make_appeal(building="E-LZ-1")
    r = client.post("/console/api/cobuilding/needs",
                    json={"title": "独居老人需要助餐", "appeal_public_id": appeal.public_id},
                    headers=token("secretary"))  # fmt: skip
    assert r.status_code == 201, r.get_json()
    need = r.get_json()
    assert need["source"] == "appeal"
    assert need["grid_id"] == appeal.grid_id
    r = client.post("/console/api/cobuilding/needs", json={"title": "x", "appeal_public_id": "nonexistent1"},
                    headers=token("secretary"))  # fmt: skip
    assert r.status_code == 404


def test_a_member_unit_login_sees_no_appeals(client, token, unit_token, make_appeal):
    make_appeal(building="E-LZ-1")
    assert client.get("/console/api/appeals", headers=token("secretary")).get_json()["total"] == 1
    assert client.get("/console/api/appeals", headers=unit_token("CB-LAW")).get_json()["total"] == 0


def test_units_and_resources_are_edited_through_the_api_with_the_same_rules(client, token, unit_token, units, clock):
    law = unit_token("CB-LAW")
    res = _resource(client, law, clock, capacity=3)
    leader = token("g1_leader")
    placed = client.post("/console/api/cobuilding/orders", json={"resource_id": res["id"], "quantity": 2},
                         headers=leader)  # fmt: skip
    assert placed.status_code == 201, placed.get_json()
    body = {
        "title": "律师法律咨询（周末场）",
        "description": "律师解答婚姻继承劳动纠纷",
        "capacity": 1,
        "available_from": res["available_from"],
        "available_until": res["available_until"],
    }
    below = client.put(f"/console/api/cobuilding/resources/{res['id']}", json=body, headers=law)
    assert below.status_code == 400
    assert below.get_json()["code"] == "bad_capacity"
    assert "已被订走的 2次" in below.get_json()["message"]
    other = client.put(f"/console/api/cobuilding/resources/{res['id']}", json={**body, "capacity": 5},
                       headers=unit_token("CB-TAX"))  # fmt: skip
    assert other.status_code == 404  # another unit's resource is not even revealed
    done = client.put(f"/console/api/cobuilding/resources/{res['id']}", json={**body, "capacity": 5}, headers=law)
    assert done.status_code == 200, done.get_json()
    assert (done.get_json()["capacity"], done.get_json()["remaining"]) == (5, 3)
    unit_id = units.units["CB-LAW"].id
    edit = {"name": "明德律师事务所湖西分所", "kind": "business", "member_from": "2026-01-01",
            "member_until": "2027-12-31"}  # fmt: skip
    assert client.put(f"/console/api/cobuilding/units/{unit_id}", json=edit, headers=leader).status_code == 403
    changed = client.put(f"/console/api/cobuilding/units/{unit_id}", json=edit, headers=token("secretary"))
    assert changed.status_code == 200, changed.get_json()
    assert (changed.get_json()["name"], changed.get_json()["member_until"]) == ("明德律师事务所湖西分所", "2027-12-31")
