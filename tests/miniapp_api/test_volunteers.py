"""Volunteers and call-ups in the mini-program: apply, my page, posts, call-ups, sign-up, waitlist, QR code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.volunteering import applications, callups, teams
from services.volunteering.callups import ShiftSpec


def _resident(login_as: Any, org: Any, **fields: Any) -> dict[str, str]:
    return login_as(None, community_id=org.community.id, grid_id=org.grids["G1"].id, **fields)


def test_apply_and_my_page(client, session, login_as, org, clock):
    staff = org.staff["community_staff"].id
    team = teams.create_team(session, staff, community_id=org.community.id, name="湖滨服务队")
    session.commit()
    headers = _resident(login_as, org)
    r = client.get("/api/v1/volunteers/teams", headers=headers)
    assert [t["name"] for t in r.get_json()["items"]] == ["湖滨服务队"]
    r = client.post(
        "/api/v1/volunteers/applications",
        json={"skills": ["急救"], "availability": "周末", "preferred_team_id": team.id},
        headers=headers,
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "pending"
    again = client.post("/api/v1/volunteers/applications", json={"skills": []}, headers=headers)
    assert again.status_code == 409
    assert again.get_json()["code"] == "application_pending"
    bad = client.post("/api/v1/volunteers/applications", json={"skills": "急救"}, headers=headers)
    assert bad.status_code == 422

    applications.approve(session, r.get_json()["id"], staff)
    post = teams.create_post(session, staff, community_id=org.community.id, name="楼道长", holders=1)
    session.commit()
    today = clock.local_now().date()
    r = client.post(
        f"/api/v1/volunteers/posts/{post.id}/claim",
        json={"starts_on": today.isoformat(), "ends_on": (today + timedelta(days=30)).isoformat()},
        headers=headers,
    )
    assert r.status_code == 201, r.get_json()
    me = client.get("/api/v1/volunteers/me", headers=headers).get_json()
    assert me["is_volunteer"] is True
    assert me["skills"] == ["急救"]
    assert [(t["name"], t["role"]) for t in me["teams"]] == [("湖滨服务队", "member")]
    assert [p["post_name"] for p in me["posts"]] == ["楼道长"]
    assert me["points"] == 0
    other = _resident(login_as, org, is_volunteer=True)
    full = client.post(
        f"/api/v1/volunteers/posts/{post.id}/claim",
        json={"starts_on": today.isoformat(), "ends_on": today.isoformat()},
        headers=other,
    )
    assert full.status_code == 409
    assert full.get_json()["code"] == "post_full"


def test_call_up_sign_up_waitlist_and_check_in_code(client, session, login_as, org, clock):
    start = clock.now() + timedelta(days=1)
    c = callups.create_callup(
        session, org.staff["community_staff"].id, community_id=org.community.id, title="防汛值守",
        shifts=[ShiftSpec("东门", start, start + timedelta(hours=2), 1)], audience={"volunteers": True},
        signup_closes_at=start - timedelta(hours=1), points_on_attendance=5,
    )  # fmt: skip
    session.commit()
    first, second = _resident(login_as, org, is_volunteer=True), _resident(login_as, org, is_volunteer=True)
    outsider = _resident(login_as, org)
    listed = client.get("/api/v1/callups", headers=first).get_json()["items"]
    assert [(x["title"], x["shifts"][0]["places_left"]) for x in listed] == [("防汛值守", 1)]
    assert client.get("/api/v1/callups", headers=outsider).get_json()["items"] == []
    assert client.get(f"/api/v1/callups/{c.id}", headers=outsider).status_code == 404
    shift_id = listed[0]["shifts"][0]["id"]
    r = client.post(f"/api/v1/callups/shifts/{shift_id}/signup", headers=first)
    assert (r.status_code, r.get_json()["status"]) == (201, "confirmed")
    r = client.post(f"/api/v1/callups/shifts/{shift_id}/signup", headers=second)
    assert (r.get_json()["status"], r.get_json()["waitlist_position"]) == ("waitlisted", 1)
    assert client.post(f"/api/v1/callups/shifts/{shift_id}/signup", headers=outsider).status_code == 403
    assert client.get(f"/api/v1/callups/shifts/{shift_id}/checkin-code", headers=second).status_code == 409
    code = client.get(f"/api/v1/callups/shifts/{shift_id}/checkin-code", headers=first).get_json()
    assert code["token"].startswith("shift.")
    r = client.post(f"/api/v1/callups/shifts/{shift_id}/cancel", headers=first)
    assert r.get_json()["status"] == "cancelled"
    me = client.get("/api/v1/volunteers/me", headers=second).get_json()
    assert [(s["callup_title"], s["status"]) for s in me["shifts"]] == [("防汛值守", "confirmed")]
