"""Notices: scoping by community/grid, read receipts once per resident, staff see counts only."""

from __future__ import annotations

from infra.web import get_db
from models.org import Staff
from models.resident import Resident


def _staff(app, login_as, org, key):
    with get_db(app).transaction() as s:
        staff = s.get(Staff, org.staff[key].id)
        staff.unionid = f"ounion-n-{key}"
        r = Resident(miniapp_openid=f"omini-n-{key}", unionid=staff.unionid, community_id=org.community.id)
        s.add(r)
        s.flush()
        rid = r.id
    return login_as(rid)


def test_grid_notice_reaches_its_grid_only_and_receipts_count_once(app, client, login_as, org, clock):
    leader = _staff(app, login_as, org, "g1_leader")
    r = client.post("/api/v1/notices", headers=leader, json={"title": "G1 停水", "body": "周六停水", "pinned": True})
    assert r.status_code == 201
    nid = r.get_json()["id"]
    g1 = login_as(None, community_id=org.community.id, grid_id=org.grids["G1"].id)
    g2 = login_as(None, community_id=org.community.id, grid_id=org.grids["G2"].id)
    assert client.get("/api/v1/notices", headers=g1).get_json()["total"] == 1
    assert client.get("/api/v1/notices", headers=g2).get_json()["total"] == 0
    assert client.get(f"/api/v1/notices/{nid}", headers=g2).status_code == 404
    for _ in range(2):
        assert client.get(f"/api/v1/notices/{nid}", headers=g1).get_json()["read"] is True
    assert client.get("/api/v1/notices", headers=g1).get_json()["items"][0]["read"] is True
    counts = client.get(f"/api/v1/notices/{nid}/receipts", headers=leader).get_json()
    assert counts == {"read": 1, "audience": 1}
    assert client.get(f"/api/v1/notices/{nid}/receipts", headers=g1).status_code == 403


def test_property_staff_publish_property_notices_only(app, client, login_as, org):
    pc = _staff(app, login_as, org, "pc_lh")
    r = client.post("/api/v1/notices", headers=pc, json={"title": "t", "body": "b"})
    assert (r.status_code, r.get_json()["code"]) == (403, "forbidden")
    r = client.post("/api/v1/notices", headers=pc, json={"title": "电梯维保", "body": "b", "category": "property",
                                                          "estate_id": org.estates["E-LZ"].id})  # fmt: skip
    assert r.status_code == 201


def test_a_grid_leader_cannot_publish_to_another_grid(app, client, login_as, org, count):
    from models.miniapp import Notice

    leader = _staff(app, login_as, org, "g1_leader")
    r = client.post(
        "/api/v1/notices", headers=leader, json={"title": "停水", "body": "周六停水", "grid_id": org.grids["G2"].id}
    )
    assert (r.status_code, r.get_json()["code"]) == (403, "grid_out_of_scope")
    assert count(Notice) == 0
    own = client.post(
        "/api/v1/notices", headers=leader, json={"title": "停水", "body": "周六停水", "grid_id": org.grids["G1"].id}
    )
    assert own.status_code == 201
