"""Residents' own appeals over HTTP: submit from the form, list, detail with timeline, rate, chase, ownership."""

from __future__ import annotations


def test_submit_list_detail_and_ownership(client, login_as, resident_headers, org, clock):
    r = client.post("/api/v1/appeals", headers=resident_headers, json={"text": "小区门口路灯坏了，晚上很黑"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["reply"]
    appeal = body["appeal"]
    assert appeal["id"]
    assert appeal["number"]
    listing = client.get("/api/v1/appeals?status=open", headers=resident_headers).get_json()
    assert [a["id"] for a in listing["items"]] == [appeal["id"]]
    assert listing["total"] == 1
    detail = client.get(f"/api/v1/appeals/{appeal['id']}", headers=resident_headers).get_json()
    assert detail["timeline"]
    assert all("actor_id" not in e for e in detail["timeline"])
    other = login_as(None)
    assert client.get(f"/api/v1/appeals/{appeal['id']}", headers=other).status_code == 404
    assert client.post(f"/api/v1/appeals/{appeal['id']}/chase", headers=other).status_code == 404
    assert client.get("/api/v1/appeals", headers=other).get_json()["total"] == 0


def test_rate_needs_a_resolved_appeal_and_chase_is_rate_limited(client, resident_headers, org, clock):
    appeal = client.post("/api/v1/appeals", headers=resident_headers, json={"text": "楼道里堆满杂物，存在消防隐患"})
    pid = appeal.get_json()["appeal"]["id"]
    r = client.post(f"/api/v1/appeals/{pid}/rate", headers=resident_headers, json={"rating": "satisfied"})
    assert r.status_code == 409
    assert r.get_json()["message"]
    first = client.post(f"/api/v1/appeals/{pid}/chase", headers=resident_headers)
    assert first.status_code == 200
    second = client.post(f"/api/v1/appeals/{pid}/chase", headers=resident_headers)
    assert second.status_code == 429
    r = client.post(f"/api/v1/appeals/{pid}/rate", headers=resident_headers, json={"rating": "great"})
    assert r.status_code == 422


def test_unknown_building_is_a_422(client, resident_headers, org):
    r = client.post("/api/v1/appeals", headers=resident_headers, json={"text": "噪音扰民", "building_id": 999999})
    assert (r.status_code, r.get_json()["code"]) == (422, "invalid_building")


def _resolve(session, org, public_id):
    from sqlalchemy import select

    from models.appeal import Appeal
    from services.appeals import workflow

    worker = org.staff["g1_worker"]
    actor = workflow.Actor("staff", worker.id, worker.role)
    appeal = session.scalar(select(Appeal).where(Appeal.public_id == public_id))
    if appeal.status in ("received", "triaged"):
        workflow.dispatch(session, appeal, actor=workflow.SYSTEM, handler_type="grid", grid_id=org.grids["G1"].id)
    workflow.accept(session, appeal, actor=actor)
    workflow.start(session, appeal, actor=actor)
    workflow.resolve(session, appeal, actor=actor, reply="已修好")
    session.commit()


def test_reopen_and_withdraw_from_the_mini_program(client, resident_headers, session, org, clock):
    pid = client.post("/api/v1/appeals", headers=resident_headers, json={"text": "小区门口路灯坏了，晚上很黑"})
    pid = pid.get_json()["appeal"]["id"]
    # Reopening needs a resolved appeal and a reason.
    r = client.post(f"/api/v1/appeals/{pid}/reopen", headers=resident_headers, json={"reason": "还是不亮"})
    assert (r.status_code, r.get_json()["code"]) == (409, "invalid_transition")
    assert client.post(f"/api/v1/appeals/{pid}/reopen", headers=resident_headers, json={}).status_code == 422
    _resolve(session, org, pid)
    r = client.post(f"/api/v1/appeals/{pid}/reopen", headers=resident_headers, json={"reason": "还是不亮"})
    assert r.status_code == 200
    assert r.get_json()["status"] == "dispatched"
    assert any(e["action"] == "reopen" for e in r.get_json()["timeline"])
    r = client.post(f"/api/v1/appeals/{pid}/withdraw", headers=resident_headers, json={"reason": "自己修好了"})
    assert r.status_code == 200
    assert (r.get_json()["status"], r.get_json()["closure_code"]) == ("closed", "withdrawn")
    again = client.post(f"/api/v1/appeals/{pid}/withdraw", headers=resident_headers, json={})
    assert (again.status_code, again.get_json()["code"]) == (409, "invalid_transition")
    # A closed appeal takes no more notes: the form is told to file it as new instead.
    late = client.post("/api/v1/appeals", headers=resident_headers, json={"text": "灯又坏了", "about": pid})
    assert (late.status_code, late.get_json()["code"]) == (409, "appeal_closed")


def test_withdraw_is_refused_for_another_residents_appeal(client, login_as, resident_headers, org):
    pid = client.post("/api/v1/appeals", headers=resident_headers, json={"text": "楼道里堆满杂物，存在消防隐患"})
    pid = pid.get_json()["appeal"]["id"]
    other = login_as(None)
    assert client.post(f"/api/v1/appeals/{pid}/withdraw", headers=other, json={}).status_code == 404
    assert client.get(f"/api/v1/appeals/{pid}", headers=resident_headers).get_json()["status"] != "closed"


def test_a_second_submission_says_new_or_about_an_appeal(client, resident_headers, org, count):
    from models.appeal import AppealEvent
    from models.routing import PendingFollowUp

    first = client.post("/api/v1/appeals", headers=resident_headers, json={"text": "小区门口路灯坏了，晚上很黑"})
    assert first.get_json()["outcome"] == "created"
    pid = first.get_json()["appeal"]["id"]
    # Possibly about the open appeal: the form is asked to choose, nothing is held for a chat answer.
    r = client.post("/api/v1/appeals", headers=resident_headers, json={"text": "路灯的事怎么样了，还没人来"})
    assert (r.status_code, r.get_json()["code"]) == (409, "about_required")
    assert [o["id"] for o in r.get_json()["details"]["options"]] == [pid]
    assert count(PendingFollowUp) == 0
    noted = client.post(
        "/api/v1/appeals", headers=resident_headers, json={"text": "路灯的事怎么样了，还没人来", "about": pid}
    )
    assert noted.status_code == 201
    assert (noted.get_json()["outcome"], noted.get_json()["appeal"]["id"]) == ("noted", pid)
    assert count(AppealEvent, AppealEvent.action == "note", AppealEvent.note == "路灯的事怎么样了，还没人来") == 1
    new = client.post(
        "/api/v1/appeals", headers=resident_headers, json={"text": "路灯的事怎么样了，还没人来", "about": "new"}
    )
    assert new.get_json()["outcome"] == "created"
    assert new.get_json()["appeal"]["id"] != pid
    unknown = client.post("/api/v1/appeals", headers=resident_headers, json={"text": "补充一下", "about": "nope"})
    assert unknown.status_code == 404
