"""The residents' participation API: propose, list ballots, vote once per household, results after the close,
follow funded projects; and the operations' OpenAPI entries."""

from __future__ import annotations

from datetime import timedelta

from models.resident import Resident
from services.participation import ballots, projects, proposals, supports, tally


def _bound(login_as, org, building="E-LZ-1", room="101"):
    b = org.buildings[building]
    return login_as(None, community_id=org.community.id, grid_id=b.grid_id, building_id=b.id, room=room)


def _ballot(session, org, clock, titles=("充电桩", "健身角")):
    staff = org.staff["community_staff"]
    proposer = Resident(
        openid="o-api-proposer", community_id=org.community.id, building_id=org.buildings["E-LZ-2"].id, room="202"
    )
    session.add(proposer)
    session.flush()
    made = []
    for t in titles:
        p = proposals.propose(session, proposer, title=t, description="d", scope="estate")
        proposals.screen(session, staff, p, "feasible")
        made.append(p.public_id)
    ballot = ballots.open_ballot(
        session, staff, title="绿洲花园投票", scope="estate", estate_id=org.estates["E-LZ"].id, proposal_ids=made,
        opens_at=clock.now(), closes_at=clock.now() + timedelta(days=3), rule="household", max_choices=1,
    )  # fmt: skip
    session.commit()
    return ballot, made


def test_a_resident_proposes_and_sees_the_screening(client, session, login_as, org, clock):
    headers = _bound(login_as, org)
    created = client.post(
        "/api/v1/participation/proposals",
        json={
            "title": "楼道扶手",
            "description": "老人上下楼不便",
            "photos": ["https://img/a.jpg"],
            "rough_cost_yuan": 3000,
        },
        headers=headers,
    )
    assert created.status_code == 201, created.json
    assert created.json["status"] == "submitted"
    assert created.json["scope"] == "building"
    p = proposals.get_for_staff(session, org.staff["community_staff"], created.json["id"])
    proposals.screen(session, org.staff["community_staff"], p, "declined", reason="已列入物业维修计划")
    session.commit()
    listed = client.get("/api/v1/participation/proposals", headers=headers).json
    assert [(i["status"], i["screening_reason"]) for i in listed["items"]] == [("declined", "已列入物业维修计划")]


def test_an_unbound_resident_gets_a_clear_409(client, login_as, org):
    r = client.post("/api/v1/participation/proposals", json={"title": "t", "description": "d"}, headers=login_as(None))
    assert r.status_code == 409
    assert r.json["code"] == "not_bound"


def test_vote_once_per_household_then_results_after_the_close(client, session, login_as, org, clock):
    ballot, options = _ballot(session, org, clock)
    mum, dad = _bound(login_as, org, room="301"), _bound(login_as, org, room="301")
    outsider = _bound(login_as, org, building="E-XY-1")
    listed = client.get("/api/v1/participation/ballots", headers=mum).json
    assert [(b["id"], b["status"], b["voted"]) for b in listed["items"]] == [(ballot.public_id, "open", False)]
    assert client.get("/api/v1/participation/ballots", headers=outsider).json["items"] == []
    url = f"/api/v1/participation/ballots/{ballot.public_id}"
    keyed = {**mum, "Idempotency-Key": "vote-1"}
    assert client.post(f"{url}/vote", json={"choices": [options[0]]}, headers=keyed).status_code == 201
    replay = client.post(f"{url}/vote", json={"choices": [options[0]]}, headers=keyed)
    assert replay.status_code == 201  # a retried request gets its first answer, not already_voted
    again = client.post(f"{url}/vote", json={"choices": [options[1]]}, headers=dad)
    assert again.status_code == 409
    assert again.json["code"] == "already_voted"
    assert client.get(url, headers=dad).json["voted"] is True
    too_many = client.post(f"{url}/vote", json={"choices": options}, headers=_bound(login_as, org, room="302"))
    assert too_many.status_code == 400
    assert too_many.json["code"] == "too_many_choices"
    assert client.post(f"{url}/vote", json={"choices": [options[0]]}, headers=outsider).status_code == 404
    early = client.get(f"{url}/results", headers=mum)
    assert early.status_code == 409
    assert early.json["code"] == "results_not_published"
    clock.advance(timedelta(days=3))
    late = client.post(f"{url}/vote", json={"choices": [options[0]]}, headers=_bound(login_as, org, room="303"))
    assert late.status_code == 409
    assert late.json["code"] == "ballot_closed"
    results = client.get(f"{url}/results", headers=mum).json
    assert [(o["id"], o["votes"]) for o in results["options"]] == [(options[0], 1), (options[1], 0)]
    assert results["voters"] == 1
    assert results["eligible"] >= 3


def test_residents_follow_the_funded_projects_of_their_scope(client, session, login_as, org, clock):
    staff = org.staff["community_staff"]
    projects.set_budget(session, staff, year=2026, cap_yuan=50_000)
    ballot, options = _ballot(session, org, clock, titles=("无障碍坡道",))

    tally.publish(session, ballot, now=ballot.closes_at)
    project = projects.fund(
        session, staff, proposals.get_for_staff(session, staff, options[0]), budget_yuan=9000, year=2026
    )
    projects.report_progress(session, staff, project, note="施工中", progress_percent=50, photos=["https://img/p.jpg"])
    session.commit()
    headers = _bound(login_as, org, building="E-LZ-6")
    listed = client.get("/api/v1/participation/projects", headers=headers).json
    assert [(p["title"], p["progress_percent"], p["status"]) for p in listed["items"]] == [
        ("无障碍坡道", 50, "in_progress")
    ]
    detail = client.get(f"/api/v1/participation/projects/{project.public_id}", headers=headers).json
    assert detail["updates"][0]["photos"] == ["https://img/p.jpg"]
    elsewhere = _bound(login_as, org, building="E-XY-1")
    assert client.get(f"/api/v1/participation/projects/{project.public_id}", headers=elsewhere).status_code == 404


def test_the_operations_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in (
        "/api/v1/participation/proposals",
        "/api/v1/participation/ballots",
        "/api/v1/participation/ballots/{ballot_id}/vote",
        "/api/v1/participation/ballots/{ballot_id}/results",
        "/api/v1/participation/projects/{project_id}",
        "/console/api/participation/items/{item_id}/steps",
    ):
        assert path in paths, path


def test_support_a_proposal_until_it_reaches_the_communitys_threshold(client, session, login_as, org, clock):
    supports.set_threshold(session, org.staff["community_staff"], supports_needed=2, window_days=10)
    session.commit()
    author, fan, other = (_bound(login_as, org, room=r) for r in ("101", "102", "103"))
    outsider = _bound(login_as, org, building="E-XY-1")
    made = client.post("/api/v1/participation/proposals", json={"title": "休息座椅", "description": "楼下放两张座椅"},
                       headers=author).json  # fmt: skip
    assert (made["status"], made["supports_needed"], made["support_count"]) == ("gathering", 2, 0)
    url = f"/api/v1/participation/proposals/{made['id']}/support"
    assert client.post(url, headers=outsider).status_code == 404  # another estate's building: not visible
    assert client.post(url, headers=author).json["code"] == "own_proposal"
    first = client.post(url, headers=fan)
    assert first.status_code == 201
    assert first.json == {"support_count": 1, "supports_needed": 2, "reached": False}
    again = client.post(url, headers=fan)
    assert again.status_code == 409
    assert again.json["code"] == "already_supported"
    assert client.post(url, headers=other).json == {"support_count": 2, "supports_needed": 2, "reached": True}
    listed = client.get("/api/v1/participation/proposals", headers=fan).json["items"]
    assert [(i["id"], i["status"], i["support_count"]) for i in listed] == [(made["id"], "submitted", 2)]
    assert "support_proposal" in str(client.get("/api/v1/openapi.json").json)
