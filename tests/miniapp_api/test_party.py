"""Party members in the mini-program: 党员报到, my households, my 先锋日志 and points."""

from __future__ import annotations

from services.party import activity, members
from services.points import ledger as points


def test_register_log_and_my_page(client, session, login_as, org, clock):
    b = org.buildings["E-LZ-1"]
    headers = login_as(None, community_id=org.community.id, grid_id=b.grid_id, building_id=b.id, room="301")
    bad = client.post("/api/v1/party/register", json={"category": "党员", "organisation": "x"}, headers=headers)
    assert bad.status_code == 400
    r = client.post(
        "/api/v1/party/register", json={"category": "流动", "organisation": "某街道党工委"}, headers=headers
    )
    assert r.status_code == 201, r.get_json()
    member_id = r.get_json()["id"]
    members.verify(session, member_id, org.staff["community_staff"].id)
    members.link_household(session, org.staff["community_staff"].id, member_id, b.id, "302")
    category = next(iter(points.seed_task_categories(session).values()))
    session.commit()
    body = {"category_id": category.id, "text": "为独居老人代购生活用品", "photos": ["p1"], "lat": 31.3, "lng": 120.7}
    logged = client.post("/api/v1/party/logs", json=body, headers=headers)
    assert logged.status_code == 201, logged.get_json()
    activity.review_log(session, logged.get_json()["id"], org.staff["g1_leader"].id, approve=True)
    session.commit()
    me = client.get("/api/v1/party/me", headers=headers).get_json()
    assert me["member"]["status"] == "verified"
    assert me["member"]["organisation"] == "某街道党工委"  # the member's own view
    assert [h["room"] for h in me["households"]] == ["302"]
    assert [e["status"] for e in me["logs"]] == ["approved"]
    assert me["points"] == category.standard_points
