"""The staff participation API: screening, a ballot's results with a recount, the budget cap, progress, and a
council item driven through 四议两公开 with the out-of-order step refused."""

from __future__ import annotations

from datetime import timedelta

from models.resident import Resident
from services.participation import ballots, proposals

API = "/console/api/participation"


def _resident(session, org, building="E-LZ-1", room="101") -> Resident:
    b = org.buildings[building]
    r = Resident(openid=f"o-console-part-{room}-{building}", community_id=org.community.id, grid_id=b.grid_id,
                 building_id=b.id, room=room, subscribed=True)  # fmt: skip
    session.add(r)
    session.flush()
    return r


def test_screen_ballot_results_fund_and_progress(client, session, token, org, clock):
    proposer = _resident(session, org)
    ids = [
        proposals.propose(session, proposer, title=t, description="d", scope="estate").public_id
        for t in ("充电桩", "健身角", "喷泉")
    ]
    session.commit()
    h = token("community_staff")
    listed = client.get(f"{API}/proposals?status=submitted", headers=h).json["items"]
    assert [p["id"] for p in listed] == ids
    for pid in ids[:2]:
        assert client.post(f"{API}/proposals/{pid}/screen", json={"decision": "feasible"}, headers=h).status_code == 200
    declined = client.post(f"{API}/proposals/{ids[2]}/screen", json={"decision": "declined"}, headers=h)
    assert declined.status_code == 400
    assert declined.json["code"] == "reason_required"
    assert client.post(f"{API}/proposals/{ids[2]}/screen", json={"decision": "merged", "merged_into": ids[0]},
                       headers=h).json["merged_into"] == ids[0]  # fmt: skip
    property_staff = client.post(f"{API}/proposals/{ids[0]}/screen", json={"decision": "feasible"},
                                 headers=token("pc_lh"))  # fmt: skip
    assert property_staff.status_code == 403
    assert property_staff.json["code"] == "role_not_allowed"
    now = clock.now()
    created = client.post(f"{API}/ballots", headers=h, json={
        "title": "绿洲花园微实事", "scope": "estate", "estate_id": org.estates["E-LZ"].id, "proposals": ids[:2],
        "opens_at": now.isoformat(), "closes_at": (now + timedelta(days=2)).isoformat(), "rule": "household",
        "max_choices": 2,
    })  # fmt: skip
    assert created.status_code == 201, created.json
    bid = created.json["id"]
    ballot = ballots.get(session, bid)
    ballots.cast(session, ballot, _resident(session, org, room="201"), ids[:2], now=now)
    ballots.cast(session, ballot, _resident(session, org, room="202"), ids[1:2], now=now)
    session.commit()
    early = client.get(f"{API}/ballots/{bid}/results", headers=h)
    assert early.status_code == 409
    assert early.json["code"] == "results_not_published"
    clock.advance(timedelta(days=2))
    results = client.get(f"{API}/ballots/{bid}/results", headers=h).json
    assert [(o["id"], o["votes"]) for o in results["options"]] == [(ids[1], 2), (ids[0], 1)]
    assert results["recount_matches"] is True
    assert results["voters"] == 2
    assert client.put(f"{API}/budgets/2026", json={"cap_yuan": 10_000}, headers=h).json["committed_yuan"] == 0
    funded = client.post(f"{API}/proposals/{ids[1]}/fund", json={"budget_yuan": 8000, "year": 2026}, headers=h)
    assert funded.status_code == 201
    over = client.post(f"{API}/proposals/{ids[0]}/fund", json={"budget_yuan": 2001, "year": 2026}, headers=h)
    assert over.status_code == 409
    assert over.json["code"] == "budget_exceeded"
    done = client.post(f"{API}/projects/{funded.json['id']}/progress", headers=h,
                       json={"note": "完工", "progress_percent": 100, "spent_yuan": 7900})  # fmt: skip
    assert done.json["status"] == "completed"
    assert done.json["updates"][0]["spent_yuan"] == 7900


def test_a_council_item_through_four_deliberations_and_two_publications(client, session, token, org, clock, run_jobs):
    _resident(session, org, building="E-LZ-3", room="301")
    session.commit()
    h = token("secretary")
    council = client.post(f"{API}/councils", json={"name": "绿洲花园议事会", "estate_id": org.estates["E-LZ"].id},
                          headers=h).json  # fmt: skip
    cid = council["id"]
    client.post(f"{API}/councils/{cid}/members", json={"name": "王代表", "kind": "resident_rep"}, headers=h)
    view = client.post(f"{API}/councils/{cid}/meetings", headers=h, json={
        "title": "月度议事", "held_at": clock.now().isoformat(), "agenda": ["充电桩"]}).json  # fmt: skip
    meeting_id, member_id = view["meetings"][0]["id"], view["members"][0]["id"]
    recorded = client.post(f"{API}/meetings/{meeting_id}/record", headers=h,
                           json={"present_member_ids": [member_id], "minutes": "同意"}).json  # fmt: skip
    assert recorded["meetings"][0]["present"] == [member_id]
    item = client.post(f"{API}/councils/{cid}/items", json={"title": "增设充电桩", "meeting_id": meeting_id},
                       headers=h).json  # fmt: skip
    assert item["next_step"] == "party_proposal"
    url = f"{API}/items/{item['id']}"
    day = clock.local_now().date().isoformat()
    wrong = client.post(f"{url}/steps", json={"step": "committees_consult", "held_on": day, "outcome": "approved"},
                        headers=h)  # fmt: skip
    assert wrong.status_code == 409
    assert wrong.json["code"] == "step_out_of_order"
    for step in ("party_proposal", "committees_consult", "party_review", "representatives_resolve"):
        r = client.post(f"{url}/steps", json={"step": step, "held_on": day, "outcome": "approved"}, headers=h)
        assert r.status_code == 200, r.json
    published = client.post(f"{url}/publish", headers=h, json={
        "step": "publish_resolution", "held_on": day, "text": "增设充电桩 20 个",
        "proposal": {"title": "绿洲花园充电桩", "rough_cost_yuan": 30000}})  # fmt: skip
    assert published.json["status"] == "resolved"
    assert published.json["created_proposal"]
    assert run_jobs() >= 1  # the resolution reached the residents in scope through the notification jobs
    final = client.post(f"{url}/publish", headers=h, json={"step": "publish_result", "held_on": day, "text": "已完工"})
    assert final.json["status"] == "done"
    assert [s["step"] for s in final.json["steps"]][-1] == "publish_result"


def test_another_communitys_staff_get_404_for_our_ballots_and_councils(client, session, token, org, clock):
    from console.auth import issue_staff_token
    from models.org import Community
    from models.staff import Staff

    proposer = _resident(session, org)
    p = proposals.propose(session, proposer, title="充电桩", description="d", scope="estate")
    proposals.screen(session, org.staff["community_staff"], p, "feasible")
    ballot = ballots.open_ballot(
        session, org.staff["community_staff"], title="t", scope="estate", estate_id=org.estates["E-LZ"].id,
        proposal_ids=[p.public_id], opens_at=clock.now(), closes_at=clock.now() + timedelta(days=1), rule="resident",
    )  # fmt: skip
    other = Community(code="other", name="别的社区")
    session.add(other)
    session.flush()
    stranger = Staff(name="外社区社工", role="community_staff", community_id=other.id)
    session.add(stranger)
    session.flush()
    headers = {"Authorization": f"Bearer {issue_staff_token(session, stranger.id)}"}
    session.commit()
    assert client.get(f"{API}/ballots/{ballot.public_id}", headers=headers).status_code == 404
    screened = client.post(f"{API}/proposals/{p.public_id}/screen", json={"decision": "feasible"}, headers=headers)
    assert screened.status_code == 404
    assert client.get(f"{API}/proposals", headers=headers).json["items"] == []
    assert client.get(f"{API}/ballots/{ballot.public_id}", headers=token("secretary")).status_code == 200


def test_the_support_threshold_is_set_per_community_and_checked(client, token, session, org):
    h = token("community_staff")
    url = f"{API}/support-threshold"
    assert client.put(url, json={"supports_needed": 20, "window_days": 30}, headers=h).json == {
        "supports_needed": 20,
        "window_days": 30,
    }
    assert client.put(url, json={"supports_needed": 20, "window_days": 0}, headers=h).status_code == 422
    refused = client.put(url, json={"supports_needed": 5, "window_days": 7}, headers=token("g1_worker"))
    assert refused.status_code == 403
    assert proposals.support_rule(session, org.community.id).supports_needed == 20


def test_an_ordinary_decision_posts_a_co_building_need_through_the_api(client, session, token, org, clock):
    h = token("secretary")
    cid = client.post(f"{API}/councils", json={"name": "社区议事会"}, headers=h).json["id"]
    item = client.post(f"{API}/councils/{cid}/items", json={"title": "助老送餐", "major": False}, headers=h).json
    decided = client.post(f"{API}/items/{item['id']}/decide", headers=h, json={
        "decision": "请共建单位每周送餐", "create": "need",
        "need": {"title": "独居老人送餐", "beneficiaries": 8, "wanted_by": "2026-12-31"}})  # fmt: skip
    assert decided.status_code == 200, decided.json
    need_id = decided.json["created_need"]
    listed = client.get("/console/api/cobuilding/needs", headers=h)  # the co-building needs list shows it
    assert listed.status_code == 200, listed.json
    assert [(n["title"], n["source"]) for n in listed.json["items"] if n["id"] == need_id] == [
        ("独居老人送餐", "deliberation")
    ]
    again = client.post(f"{API}/councils/{cid}/items", headers=h,
                        json={"title": "送餐回访", "source_type": "need", "source_id": str(need_id)})  # fmt: skip
    assert again.status_code == 201
    assert again.json["need"] == need_id
