"""Notices: scoping by community/grid, read receipts once per resident, staff see counts only."""

from __future__ import annotations

from infra.web import get_db
from models.resident import Resident
from models.staff import Staff


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
    from models.notice import Notice

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


def test_an_urgent_notice_is_pushed_to_the_residents_in_its_scope(app, client, login_as, org, clock, sandbox, run_jobs):
    from datetime import timedelta

    leader = _staff(app, login_as, org, "g1_leader")
    g1, g2 = org.grids["G1"].id, org.grids["G2"].id
    now = clock.now()
    fields = {"community_id": org.community.id, "subscribed": True}
    login_as(None, openid="o-n-g1-chatting", grid_id=g1, last_inbound_at=now, **fields)
    login_as(None, openid="o-n-g1-quiet", grid_id=g1, last_inbound_at=now - timedelta(days=5), **fields)
    login_as(None, openid="o-n-g2", grid_id=g2, last_inbound_at=now, **fields)
    quiet = client.post("/api/v1/notices", headers=leader, json={"title": "周六停水", "body": "8:00-12:00"})
    assert quiet.status_code == 201
    run_jobs()
    assert [s for s in sandbox.sent() if s["touser"].startswith("o-n-")] == []  # an ordinary notice is not pushed
    r = client.post("/api/v1/notices", headers=leader, json={"title": "燃气泄漏", "body": "请勿用火", "urgent": True})
    assert r.status_code == 201
    run_jobs()
    chatting = sandbox.sent("o-n-g1-chatting")
    assert [s["kind"] for s in chatting] == ["custom"]
    assert "燃气泄漏" in chatting[0]["body"]["text"]["content"]
    assert [s["kind"] for s in sandbox.sent("o-n-g1-quiet")] == ["template"]  # outside the 48 h window
    assert sandbox.sent("o-n-g2") == []
    run_jobs()
    assert len(sandbox.sent("o-n-g1-chatting")) == 1  # once per resident
