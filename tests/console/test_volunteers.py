"""Staff JSON API for volunteers and call-ups: review applications (the resident is told), teams, posts,
call-ups with their live fill rate, the send and QR check-in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from models import Resident
from services.points import ledger as points
from services.volunteering import applications, callups

_seq = iter(range(1, 10_000))


def _person(session: Any, org: Any, name: str, **fields: Any) -> Resident:
    r = Resident(name=name, phone="13812345678", openid=f"o-vol-{next(_seq)}", subscribed=True,
                 community_id=org.community.id, grid_id=org.grids["G1"].id, **fields)  # fmt: skip
    session.add(r)
    session.commit()
    return r


def test_approve_over_the_console_tells_the_resident_through_wechat(client, session, org, token, run_jobs, sandbox):
    r = _person(session, org, "陈小明")
    row = applications.apply(session, r.id, skills=["急救"])
    session.commit()
    listed = client.get("/console/api/volunteers/applications", headers=token("community_staff")).get_json()
    assert [(a["id"], a["name"], a["phone"]) for a in listed["items"]] == [(row.id, "陈**", "138****5678")]
    assert client.post(f"/console/api/volunteers/applications/{row.id}/approve").status_code == 401
    resp = client.post(f"/console/api/volunteers/applications/{row.id}/approve", headers=token("community_staff"))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "approved"
    run_jobs()
    sent = sandbox.sent(touser=r.openid)
    assert len(sent) == 1
    assert "已通过" in str(sent[0]["body"])


def test_decline_needs_a_reason_and_grid_staff_stay_in_their_grid(client, session, org, token):
    r = _person(session, org, "李四")
    row = applications.apply(session, r.id, skills=[])
    session.commit()
    url = f"/console/api/volunteers/applications/{row.id}/decline"
    assert client.post(url, json={"reason": ""}, headers=token("community_staff")).status_code == 422
    assert client.post(url, json={"reason": "不在本网格"}, headers=token("g3_leader")).status_code == 403
    resp = client.post(url, json={"reason": "暂不招募"}, headers=token("community_staff"))
    assert resp.get_json()["decline_reason"] == "暂不招募"


def test_call_up_created_sent_filled_and_checked_in(client, session, org, token, clock, run_jobs, sandbox):
    staff = token("community_staff")
    volunteers = [_person(session, org, f"志愿者{i}", is_volunteer=True) for i in range(3)]
    team = client.post(
        "/console/api/volunteers/teams", json={"community_id": org.community.id, "name": "先锋队"}, headers=staff
    )
    assert team.status_code == 201, team.get_json()
    added = client.post(
        f"/console/api/volunteers/teams/{team.get_json()['id']}/members",
        json={"resident_id": volunteers[0].id, "leader": True}, headers=staff,
    )  # fmt: skip
    assert (added.get_json()["leader_resident_id"], added.get_json()["members"]) == (volunteers[0].id, 1)
    start = clock.now() + timedelta(days=1)
    body = {
        "community_id": org.community.id, "title": "社区核酸点值守", "points_on_attendance": 6,
        "shifts": [{"place": "南门", "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(hours=2)).isoformat(), "quota": 2}],
        "signup_closes_at": (start - timedelta(hours=1)).isoformat(),
    }  # fmt: skip
    created = client.post("/console/api/callups", json=body, headers=staff)
    assert created.status_code == 201, created.get_json()
    callup_id = created.get_json()["callup_id"]
    sent = client.post(f"/console/api/callups/{callup_id}/send", headers=staff)
    assert sent.status_code == 202
    assert sent.get_json()["recipients"] == 3
    run_jobs()
    assert sorted(s["touser"] for s in sandbox.sent()) == sorted(v.openid for v in volunteers)
    again = client.post(f"/console/api/callups/{callup_id}/send", headers=staff)
    assert again.get_json()["recipients"] == 3
    run_jobs()
    assert len(sandbox.sent()) == 3  # sending again reaches nobody twice

    shift_id = created.get_json()["shifts"][0]["shift_id"]
    rows = [callups.sign_up(session, shift_id, v.id) for v in volunteers]
    session.commit()
    fill = client.get(f"/console/api/callups/{callup_id}/fill", headers=staff).get_json()
    assert (fill["quota"], fill["taken"], fill["fill_rate"], fill["sent"]) == (2, 2, 1.0, 3)
    assert fill["shifts"][0]["waitlisted"] == 1
    clock.advance(timedelta(days=1) - timedelta(minutes=5))
    secret = client.application.config["SECRET_KEY"]
    scan = client.post("/console/api/callups/checkin", json={"token": callups.qr_for(secret, rows[0])}, headers=staff)
    assert scan.get_json()["status"] == "attended"
    assert points.balance_of(session, volunteers[0].id) == 6
    twice = client.post("/console/api/callups/checkin", json={"token": callups.qr_for(secret, rows[0])}, headers=staff)
    assert twice.status_code == 409
