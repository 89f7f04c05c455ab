"""Points over HTTP: volunteer submission, grid-leader review, ownership, balance, ledger and rankings."""

from __future__ import annotations

from typing import Any

import pytest

from models import Resident, Staff
from services.points import ledger as points
from tests.miniapp_api.conftest import resident_id_of


def link_staff(session: Any, login_as: Any, org: Any, key: str, **fields: Any) -> dict[str, str]:
    """Headers of a resident who is also the demo staff member `key` (same unionid)."""
    unionid = f"ounion-staff-{key}"
    staff = session.get(Staff, org.staff[key].id)
    staff.unionid = unionid
    resident = Resident(miniapp_openid=f"omini-staff-{key}", unionid=unionid, community_id=org.community.id, **fields)
    session.add(resident)
    session.commit()
    return login_as(resident.id)


@pytest.fixture
def cats(session, org, clock):
    found = points.seed_task_categories(session)
    session.commit()
    return found


def volunteer(login_as: Any, org: Any, grid: str = "G1", **fields: Any) -> dict[str, str]:
    return login_as(None, community_id=org.community.id, grid_id=org.grids[grid].id, is_volunteer=True, **fields)


def work(category_id: int, **extra: Any) -> dict[str, Any]:
    return {"category_id": category_id, "text": "走访独居老人王奶奶，代买药品", "photos": ["media:1"],
            "lat": 31.302, "lng": 120.702, **extra}  # fmt: skip


def test_submit_review_and_see_points_rank_and_ledger(client, session, login_as, org, clock, cats):
    vol = volunteer(login_as, org, name="周志愿")
    leader = link_staff(session, login_as, org, "g1_leader")
    r = client.post("/api/v1/points/submissions", json=work(cats["help_in_need"].id), headers=vol)
    assert r.status_code == 201
    assert r.get_json()["status"] == "pending"
    assert r.get_json()["points"] == 20
    sid = r.get_json()["id"]
    queue = client.get("/api/v1/points/review-queue", headers=leader).get_json()
    assert [i["id"] for i in queue["items"]] == [sid]
    assert queue["total"] == 1
    assert client.get(f"/api/v1/points/submissions/{sid}", headers=leader).status_code == 200
    r = client.post(f"/api/v1/points/submissions/{sid}/review", json={"approve": True}, headers=leader)
    assert r.status_code == 200
    assert r.get_json()["status"] == "approved"
    r = client.post(f"/api/v1/points/submissions/{sid}/review", json={"approve": True}, headers=leader)
    assert r.status_code == 409
    assert r.get_json()["code"] == "invalid_transition"
    bal = client.get("/api/v1/points/balance", headers=vol).get_json()
    assert bal == {"balance": 20, "season": "2026-11", "season_points": 20, "season_rank": 1}
    ledger = client.get("/api/v1/points/ledger", headers=vol).get_json()
    assert [(i["delta"], i["source_type"], i["source_id"]) for i in ledger["items"]] == [(20, "task_submission", sid)]
    board = client.get("/api/v1/points/rankings?season=2026-11", headers=vol).get_json()
    assert board["items"] == [{"rank": 1, "name": "周**", "points": 20, "grid_id": org.grids["G1"].id, "me": True}]
    assert client.get("/api/v1/points/rankings?season=2026-13", headers=vol).status_code == 422


def test_only_volunteers_submit_and_only_authors_or_reviewers_see(client, session, login_as, org, clock, cats):
    plain = login_as(None, community_id=org.community.id, grid_id=org.grids["G1"].id)
    r = client.post("/api/v1/points/submissions", json=work(cats["help_in_need"].id), headers=plain)
    assert r.status_code == 403
    vol = volunteer(login_as, org)
    r = client.post("/api/v1/points/submissions", json=work(cats["help_in_need"].id, photos=[]), headers=vol)
    assert r.status_code == 422  # the schema refuses a submission without evidence
    sid = client.post("/api/v1/points/submissions", json=work(cats["help_in_need"].id), headers=vol).get_json()["id"]
    other = volunteer(login_as, org)
    assert client.get(f"/api/v1/points/submissions/{sid}", headers=other).status_code == 404
    g2_leader = link_staff(session, login_as, org, "g2_leader")
    assert client.get(f"/api/v1/points/submissions/{sid}", headers=g2_leader).status_code == 404
    r = client.post(f"/api/v1/points/submissions/{sid}/review", json={"approve": True}, headers=g2_leader)
    assert r.status_code == 403
    assert r.get_json()["message"] == "只能审核本网格志愿者的任务"
    assert (
        client.post(f"/api/v1/points/submissions/{sid}/review", json={"approve": True}, headers=vol).status_code == 403
    )
    mine = client.get("/api/v1/points/submissions", headers=vol).get_json()
    assert [i["id"] for i in mine["items"]] == [sid]


def test_a_grid_leader_cannot_approve_their_own_work(client, session, login_as, org, clock, cats):
    leader = link_staff(session, login_as, org, "g1_leader", grid_id=org.grids["G1"].id, is_volunteer=True)
    sid = client.post("/api/v1/points/submissions", json=work(cats["help_in_need"].id), headers=leader).get_json()["id"]
    r = client.post(f"/api/v1/points/submissions/{sid}/review", json={"approve": True}, headers=leader)
    assert r.status_code == 403
    assert r.get_json() == {
        "code": "self_review",
        "message": "不能审核自己提交的任务",
    }
    assert points.balance_of(session, resident_id_of(session, leader)) == 0


def test_categories_are_listed_with_their_rules(client, login_as, org, clock, cats):
    vol = volunteer(login_as, org)
    items = client.get("/api/v1/points/categories", headers=vol).get_json()["items"]
    assert {i["name"]: i["standard_points"] for i in items}["隐患排查"] == 10
    assert all(i["cap_period"] == "month" for i in items)
