"""Staff JSON API for the party side: verify, branch list masked, 联户 coverage, log review, totals, awards."""

from __future__ import annotations

from models import Resident
from services.party import activity, members
from services.points import ledger as points


def test_verify_link_review_and_publish_awards(client, session, org, token, clock, run_jobs, sandbox):
    staff = token("community_staff")
    b = org.buildings["E-LZ-1"]
    r = Resident(name="赵党员", phone="13700002222", openid="o-party-console-1", subscribed=True,
                 community_id=org.community.id, grid_id=b.grid_id, building_id=b.id, room="501")  # fmt: skip
    session.add(r)
    session.flush()
    m = members.register(session, r.id, category="在职", organisation="园区管委会机关党委")
    session.commit()
    pending = client.get("/console/api/party/members/pending", headers=staff).get_json()["items"]
    assert [(p["id"], p["name"], p["phone"]) for p in pending] == [(m.id, "赵**", "137****2222")]
    ok = client.post(f"/console/api/party/members/{m.id}/verify", json={"accept": True}, headers=staff)
    assert ok.get_json()["items"][0]["status"] == "verified"
    run_jobs()
    assert len(sandbox.sent(touser="o-party-console-1")) == 1
    branch = client.get(f"/console/api/party/branches/{b.grid_id}", headers=staff).get_json()["items"]
    assert branch[0]["organisation"] == "园区*******"
    linked = client.post(
        "/console/api/party/households", json={"member_id": m.id, "building_id": b.id, "room": "502"}, headers=staff
    )
    assert linked.status_code == 201, linked.get_json()
    cover = {c["grid_id"]: c for c in client.get("/console/api/party/coverage", headers=staff).get_json()["items"]}
    assert (cover[b.grid_id]["households"], cover[b.grid_id]["covered"]) == (2, 1)

    session.expire_all()  # the verification happened in the request's session
    category = next(iter(points.seed_task_categories(session).values()))
    entry = activity.log_entry(session, r.id, category.id, text="组织楼道议事会", photos=[], lat=31.3, lng=120.7)
    session.commit()
    queue = client.get("/console/api/party/logs/pending", headers=token("g1_leader")).get_json()["items"]
    assert [e["id"] for e in queue] == [entry.id]
    review = client.post(
        f"/console/api/party/logs/{entry.id}/review", json={"approve": True}, headers=token("g1_leader")
    )
    assert review.get_json()["items"][0]["status"] == "approved"
    period = points.season_key()
    totals = client.get(f"/console/api/party/logs/totals?period={period}", headers=staff).get_json()["items"]
    assert totals == [{"grid_id": b.grid_id, "entries": 1, "points": category.standard_points}]

    cands = client.post(
        "/console/api/party/awards/candidates", json={"community_id": org.community.id, "period": period}, headers=staff
    ).get_json()["items"]
    assert [(c["name"], c["points"], c["log_entries"]) for c in cands] == [("赵**", category.standard_points, 1)]
    pub = client.post(
        f"/console/api/party/awards/{cands[0]['round_id']}/publish", json={"candidate_ids": [cands[0]["id"]]},
        headers=staff,
    )  # fmt: skip
    assert pub.status_code == 200, pub.get_json()
    assert "志愿服务先进" in pub.get_json()["items"][0]["title"]
