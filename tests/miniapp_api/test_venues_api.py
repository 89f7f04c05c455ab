"""Booking over HTTP: slots, booking, waitlist, cancel, check-in, approval, idempotency, and 50-way races."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from flask import Flask

from infra.clock import LOCAL_TZ
from infra.web import get_db
from models.booking import Booking, BookingSeat
from models.resident import Resident
from models.staff import Staff
from services.booking import venues as svc
from services.demo import seed_org

HOURS = {str(d): [["09:00", "12:00"], ["14:00", "21:00"]] for d in range(7)}
SAT_14 = datetime(2026, 11, 21, 14, tzinfo=LOCAL_TZ).isoformat()  # clock: Friday 2026-11-20 10:00 local


def make_venue(app: Flask, capacity: int = 1, **rules: Any) -> int:
    with get_db(app).transaction() as s:
        org = seed_org(s)
        v = svc.create_venue(s, community_id=org.community.id, name="会议室", capacity=capacity, opening_hours=HOURS,
                             location="党群服务中心", **rules)  # fmt: skip
        return v.id


def staff_headers(app: Flask, login_as: Any, key: str = "community_staff") -> dict[str, str]:
    with get_db(app).transaction() as s:
        org = seed_org(s)
        staff = s.get(Staff, org.staff[key].id)
        staff.unionid = f"ounion-{key}"
        r = Resident(miniapp_openid=f"omini-{key}", unionid=staff.unionid, community_id=org.community.id)
        s.add(r)
        s.flush()
        rid = r.id
    return login_as(rid)


def post_booking(client: Any, headers: dict[str, str], venue_id: int, **body: Any) -> Any:
    return client.post("/api/v1/bookings", headers=headers, json={"venue_id": venue_id, "starts_at": SAT_14, **body})


def test_slots_show_free_seats_not_names(app, client, login_as, clock):
    vid = make_venue(app, capacity=2)
    me = login_as(None)
    assert post_booking(client, me, vid).status_code == 201
    r = client.get(f"/api/v1/venues/{vid}/slots?day=2026-11-21", headers=me)
    body = r.get_json()
    slot = next(s for s in body["slots"] if s["starts_at"].startswith("2026-11-21T06:00"))
    assert (slot["capacity"], slot["available"], slot["bookable"]) == (2, 1, True)
    assert "resident" not in str(body)
    venues = client.get("/api/v1/venues", headers=me).get_json()
    assert venues["total"] == 1
    assert venues["items"][0]["capacity"] == 2
    assert client.get("/api/v1/venues/999999", headers=me).status_code == 404


def test_book_list_cancel_and_ownership(app, client, login_as, clock):
    vid = make_venue(app)
    alice, bob = login_as(None), login_as(None)
    r = post_booking(client, alice, vid, purpose="议事会")
    assert r.status_code == 201
    booking = r.get_json()
    assert booking["status"] == "confirmed"
    assert isinstance(booking["id"], int)  # one id style: integers, like venues, events and submissions
    assert client.get("/api/v1/bookings/not-a-number", headers=alice).status_code == 404
    r = post_booking(client, bob, vid)
    assert (r.status_code, r.get_json()["code"]) == (409, "slot_full")
    r = post_booking(client, bob, vid, waitlist=True)
    assert r.status_code == 201
    assert r.get_json()["status"] == "waitlisted"
    assert r.get_json()["waitlist_position"] == 1
    bob_booking = r.get_json()["id"]
    # Bob cannot see or cancel Alice's booking.
    assert client.get(f"/api/v1/bookings/{booking['id']}", headers=bob).status_code == 404
    assert client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=bob).status_code == 404
    mine = client.get("/api/v1/bookings?upcoming=true", headers=alice).get_json()
    assert [b["id"] for b in mine["items"]] == [booking["id"]]
    r = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=alice)
    assert r.get_json()["status"] == "cancelled"
    offered = client.get(f"/api/v1/bookings/{bob_booking}", headers=bob).get_json()
    assert offered["status"] == "offered"
    assert offered["offer_expires_at"]
    r = client.post(f"/api/v1/bookings/{bob_booking}/confirm", headers=bob)
    assert r.get_json()["status"] == "confirmed"


def test_refusals_are_clear_4xx(app, client, login_as, clock):
    vid = make_venue(app)
    me = login_as(None)
    r = client.post("/api/v1/bookings", headers=me, json={"venue_id": vid, "starts_at": "2026-11-21T14:00:00"})
    assert r.status_code == 422  # no offset: ambiguous time
    r = client.post("/api/v1/bookings", headers=me, json={"venue_id": vid, "starts_at": "2026-11-21T12:00:00+08:00"})
    assert (r.status_code, r.get_json()["code"]) == (422, "outside_opening_hours")
    r = client.post("/api/v1/bookings", headers=me, json={"venue_id": 10**12, "starts_at": SAT_14})
    assert r.status_code == 422
    r = client.post("/api/v1/bookings", headers=me, json={"venue_id": 4242, "starts_at": SAT_14})
    assert r.status_code == 404


def test_idempotent_booking_replay_returns_the_first_answer(app, client, login_as, session, count, clock):
    vid = make_venue(app, capacity=3)
    me = {**login_as(None), "Idempotency-Key": "book-once"}
    first = post_booking(client, me, vid)
    second = post_booking(client, me, vid)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert count(Booking) == 1
    assert count(BookingSeat) == 1


def test_check_in_by_qr_scanned_by_staff(app, client, login_as, clock):
    vid = make_venue(app)
    me = login_as(None)
    booking = post_booking(client, me, vid).get_json()
    checkin = client.get(f"/api/v1/bookings/{booking['id']}/checkin-code", headers=me).get_json()
    assert checkin["booking_id"] == booking["id"]
    code = checkin["code"]
    assert client.post("/api/v1/checkin", headers=me, json={"code": code}).status_code == 403  # residents can't
    staff = staff_headers(app, login_as)
    r = client.post("/api/v1/checkin", headers=staff, json={"code": code})
    assert (r.status_code, r.get_json()["code"]) == (409, "too_early")
    clock.advance(datetime(2026, 11, 21, 13, 50, tzinfo=LOCAL_TZ) - clock.now())
    r = client.post("/api/v1/checkin", headers=staff, json={"code": code})
    assert r.status_code == 200
    assert r.get_json()["status"] == "checked_in"
    r = client.post("/api/v1/checkin", headers=staff, json={"code": code})
    assert (r.status_code, r.get_json()["code"]) == (409, "code_used")


def test_approval_flow_for_staff(app, client, login_as, clock):
    vid = make_venue(app, requires_approval=True)
    me = login_as(None)
    booking = post_booking(client, me, vid).get_json()
    assert booking["status"] == "pending"
    staff = staff_headers(app, login_as)
    pending = client.get(f"/api/v1/venues/{vid}/pending", headers=staff).get_json()
    assert [b["id"] for b in pending["items"]] == [booking["id"]]
    assert client.get(f"/api/v1/venues/{vid}/pending", headers=me).status_code == 403
    r = client.post(f"/api/v1/bookings/{booking['id']}/decision", headers=staff, json={"approve": True})
    assert r.get_json()["status"] == "confirmed"
    assert client.get(f"/api/v1/bookings/{booking['id']}", headers=me).get_json()["status"] == "confirmed"


def _race(app: Flask, login_as: Any, venue_id: int, n: int = 50) -> Counter:
    headers = [login_as(None) for _ in range(n)]
    barrier = threading.Barrier(n)
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def attempt(h: dict[str, str]) -> None:
        client = app.test_client()
        barrier.wait()
        r = post_booking(client, h, venue_id)
        body = r.get_json() or {}
        with lock:
            results.append((r.status_code, body.get("code") or body.get("status")))

    threads = [threading.Thread(target=attempt, args=(h,)) for h in headers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Counter(results)


def _held(app: Flask, venue_id: int) -> tuple[int, int]:
    with get_db(app).transaction() as s:
        from sqlalchemy import func, select

        bookings = s.scalar(select(func.count(Booking.id)).where(Booking.venue_id == venue_id,
                                                                 Booking.status == "confirmed"))  # fmt: skip
        seats = s.scalar(select(func.count(BookingSeat.id)).where(BookingSeat.venue_id == venue_id))
        return bookings or 0, seats or 0


def test_fifty_parallel_requests_for_the_last_seat_on_sqlite(app, login_as, clock):
    vid = make_venue(app, capacity=1)
    outcome = _race(app, login_as, vid)
    assert outcome[(201, "confirmed")] == 1
    assert outcome[(409, "slot_full")] == 49
    assert _held(app, vid) == (1, 1)


@pytest.mark.postgres
def test_fifty_parallel_requests_for_the_last_seat_on_postgres(pg_app, pg_login_as, clock):
    vid = make_venue(pg_app, capacity=3)
    # Two seats go first; then 50 residents race for the last one.
    for _ in range(2):
        assert post_booking(pg_app.test_client(), pg_login_as(None), vid).status_code == 201
    outcome = _race(pg_app, pg_login_as, vid)
    assert outcome[(201, "confirmed")] == 1
    assert outcome[(409, "slot_full")] == 49
    assert _held(pg_app, vid) == (3, 3)


@pytest.mark.postgres
def test_idempotent_replay_on_postgres_under_concurrency(pg_app, pg_login_as, clock):
    vid = make_venue(pg_app, capacity=5)
    headers = {**pg_login_as(None), "Idempotency-Key": "same-key"}
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def attempt() -> None:
        client = pg_app.test_client()
        barrier.wait()
        statuses.append(post_booking(client, headers, vid).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _held(pg_app, vid) == (1, 1)
    assert 201 in statuses
    assert set(statuses) <= {201, 409}
    replay = post_booking(pg_app.test_client(), headers, vid)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
