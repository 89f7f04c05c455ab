"""Event signup over HTTP: visibility, signup/waitlist/cancel + promotion, QR check-in with points, roles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from models import Resident, Staff
from services.points import ledger as points


def link_staff(session: Any, login_as: Any, org: Any, key: str) -> dict[str, str]:
    """Headers of a resident who is also the demo staff member `key` (same unionid)."""
    unionid = f"ounion-staff-{key}"
    staff = session.get(Staff, org.staff[key].id)
    staff.unionid = unionid
    resident = Resident(miniapp_openid=f"omini-staff-{key}", unionid=unionid, community_id=org.community.id)
    session.add(resident)
    session.commit()
    return login_as(resident.id)


def resident_in(login_as: Any, org: Any, grid: str = "G1", **fields: Any) -> dict[str, str]:
    return login_as(None, community_id=org.community.id, grid_id=org.grids[grid].id, **fields)


def new_event(client: Any, headers: dict[str, str], clock: Any, **fields: Any) -> dict[str, Any]:
    start = clock.now() + timedelta(days=1)
    body = {
        "title": "社区义诊",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
        "capacity": 1,
        "points_on_attendance": 5,
        **fields,
    }
    r = client.post("/api/v1/events", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_signup_waitlist_cancel_promotes_and_check_in_credits_points(client, session, login_as, org, clock):
    staff = link_staff(session, login_as, org, "community_staff")
    ev = new_event(client, staff, clock)
    alice, bob = resident_in(login_as, org), resident_in(login_as, org)
    r = client.post(f"/api/v1/events/{ev['id']}/signup", headers=alice)
    assert r.status_code == 201
    assert r.get_json()["status"] == "confirmed"
    r = client.post(f"/api/v1/events/{ev['id']}/signup", headers=bob)
    assert r.get_json()["status"] == "waitlisted"
    assert r.get_json()["waitlist_position"] == 1
    r = client.post(f"/api/v1/events/{ev['id']}/signup", headers=alice)
    assert r.status_code == 409
    assert r.get_json() == {"code": "already_signed_up", "message": "您已报名该活动"}
    r = client.get(f"/api/v1/events/{ev['id']}/checkin-code", headers=bob)
    assert r.status_code == 409
    assert r.get_json()["code"] == "not_confirmed"
    r = client.post(f"/api/v1/events/{ev['id']}/cancel", headers=alice)
    assert r.status_code == 200
    assert r.get_json()["seat_passed_on"] is True
    assert client.get(f"/api/v1/events/{ev['id']}", headers=bob).get_json()["my_status"] == "confirmed"
    token = client.get(f"/api/v1/events/{ev['id']}/checkin-code", headers=bob).get_json()["token"]
    clock.advance(timedelta(days=1))
    r = client.post("/api/v1/events/checkin", json={"token": token}, headers=bob)
    assert r.status_code == 403  # residents cannot check people in
    r = client.post("/api/v1/events/checkin", json={"token": token}, headers=staff)
    assert r.status_code == 200
    assert r.get_json()["checked_in_at"]
    r = client.post("/api/v1/events/checkin", json={"token": token}, headers=staff)
    assert r.status_code == 409
    assert r.get_json()["message"] == "已签到，二维码不能重复使用"
    assert client.get("/api/v1/points/balance", headers=bob).get_json()["balance"] == 5
    roster = client.get(f"/api/v1/events/{ev['id']}/roster", headers=staff).get_json()
    assert [(i["status"], i["checked_in"]) for i in roster["items"]] == [("confirmed", True)]
    mine = client.get("/api/v1/me/events", headers=alice).get_json()
    assert [i["status"] for i in mine["items"]] == ["cancelled"]


def test_events_of_another_grid_are_invisible_and_residents_cannot_publish(client, session, login_as, org, clock):
    leader = link_staff(session, login_as, org, "g2_leader")
    ev = new_event(client, leader, clock, grid_id=org.grids["G2"].id)
    g1 = resident_in(login_as, org, "G1")
    assert client.get(f"/api/v1/events/{ev['id']}", headers=g1).status_code == 404
    assert client.post(f"/api/v1/events/{ev['id']}/signup", headers=g1).status_code == 404
    assert client.get("/api/v1/events", headers=g1).get_json()["items"] == []
    g2 = resident_in(login_as, org, "G2")
    assert [e["id"] for e in client.get("/api/v1/events", headers=g2).get_json()["items"]] == [ev["id"]]
    valid = {"title": "x", "starts_at": "2026-11-21T10:00:00+08:00", "ends_at": "2026-11-21T12:00:00+08:00",
             "capacity": 3}  # fmt: skip
    r = client.post("/api/v1/events", json=valid, headers=g1)
    assert r.status_code == 403
    assert r.get_json()["code"] == "forbidden"
    r = client.post(
        "/api/v1/events",
        json={"title": "x", "starts_at": "2026-11-21T10:00:00+08:00", "ends_at": "2026-11-21T09:00:00+08:00",
              "capacity": 3, "grid_id": org.grids["G2"].id},
        headers=leader,
    )  # fmt: skip
    assert r.status_code == 400
    assert r.get_json()["message"] == "结束时间必须晚于开始时间"
    r = client.post("/api/v1/events", json={"title": "x", "capacity": 0}, headers=leader)
    assert r.status_code == 422
    assert client.get(f"/api/v1/events/{ev['id']}/roster", headers=g2).status_code == 403


def test_an_idempotent_signup_replay_returns_the_first_answer(client, session, login_as, org, clock):
    staff = link_staff(session, login_as, org, "community_staff")
    ev = new_event(client, staff, clock, capacity=5)
    alice = resident_in(login_as, org)
    headers = {**alice, "Idempotency-Key": "signup-1"}
    first = client.post(f"/api/v1/events/{ev['id']}/signup", headers=headers)
    again = client.post(f"/api/v1/events/{ev['id']}/signup", headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert client.get(f"/api/v1/events/{ev['id']}", headers=alice).get_json()["seats_left"] == 4


def test_volunteers_only_events_refuse_others_with_a_message(client, session, login_as, org, clock):
    staff = link_staff(session, login_as, org, "community_staff")
    ev = new_event(client, staff, clock, volunteers_only=True)
    plain = resident_in(login_as, org)
    r = client.post(f"/api/v1/events/{ev['id']}/signup", headers=plain)
    assert r.status_code == 403
    assert r.get_json() == {
        "code": "volunteers_only",
        "message": "该活动仅限志愿者报名",
    }
    vol = resident_in(login_as, org, is_volunteer=True)
    assert client.post(f"/api/v1/events/{ev['id']}/signup", headers=vol).status_code == 201
    assert points.season_key(clock.now()) == "2026-11"
