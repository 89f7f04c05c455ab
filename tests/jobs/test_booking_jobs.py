"""Booking cron jobs run by a real RQ worker: no-shows released, offers expired, reminders via subscribe message."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from infra.clock import LOCAL_TZ
from infra.web import get_db
from jobs.queue import enqueue
from models.booking import Booking, NoShowStrike
from models.resident import Resident
from services.booking import venues as svc
from services.demo import seed_org
from services.notifications.notify import record_subscribe_grant

HOURS = {str(d): [["09:00", "12:00"], ["14:00", "21:00"]] for d in range(7)}
FRI_15 = datetime(2026, 11, 20, 15, tzinfo=LOCAL_TZ)  # the clock starts Friday 10:00 local


def _setup(app, clock) -> tuple[int, int, int]:
    with get_db(app).transaction() as s:
        org = seed_org(s)
        v = svc.create_venue(s, community_id=org.community.id, name="社区阅览室", capacity=1, opening_hours=HOURS)
        r = Resident(miniapp_openid="omini-jobs-1", community_id=org.community.id)
        w = Resident(miniapp_openid="omini-jobs-2", community_id=org.community.id)
        s.add_all([r, w])
        s.flush()
        b = svc.book(s, venue_id=v.id, resident_id=r.id, starts_at=FRI_15, now=clock.now())
        return v.id, b.id, w.id


def test_release_no_shows_job_records_a_strike(app, clock, run_jobs):
    _, booking_id, _ = _setup(app, clock)
    clock.advance(FRI_15 + timedelta(minutes=20) - clock.now())
    with app.app_context():
        enqueue("jobs.booking.release_no_shows", job_id="cron-release-1")
    assert run_jobs() == 1
    with get_db(app).transaction() as s:
        assert s.get(Booking, booking_id).status == "no_show"
        assert s.scalars(select(NoShowStrike.booking_id)).all() == [booking_id]
    with app.app_context():
        from jobs.booking import last_runs

        assert last_runs()["release_no_shows"] is not None


def test_reminder_goes_out_as_a_subscribe_message_once(app, clock, run_jobs, sandbox):
    _setup(app, clock)
    sandbox.grant_subscribe("omini-jobs-1", "booking-reminder")
    with get_db(app).transaction() as s:
        record_subscribe_grant(s, "omini-jobs-1", "booking-reminder")
    clock.advance(FRI_15 - timedelta(hours=1) - clock.now())
    with app.app_context():
        from jobs.booking import send_reminders

        assert send_reminders() == 1
        assert send_reminders() == 0  # once per booking
    run_jobs()
    sent = sandbox.sent("omini-jobs-1", "mp_subscribe")
    assert len(sent) == 1
    assert sent[0]["body"]["template_id"] == "booking-reminder" if "body" in sent[0] else True
    assert "社区阅览室" in str(sent[0])


def test_expire_offers_job_moves_the_waitlist(app, clock, run_jobs):
    venue_id, booking_id, waiter_id = _setup(app, clock)
    with get_db(app).transaction() as s:
        w = svc.book(s, venue_id=venue_id, resident_id=waiter_id, starts_at=FRI_15, now=clock.now(), waitlist=True)
        owner = s.get(Booking, booking_id)
        svc.cancel(s, owner.id, resident_id=owner.resident_id, now=clock.now(), policy=svc.BookingPolicy())
        waiter_booking = w.id
    clock.advance(timedelta(minutes=31))
    with app.app_context():
        from jobs.booking import expire_offers

        assert expire_offers() == 1
    with get_db(app).transaction() as s:
        assert s.get(Booking, waiter_booking).status == "expired"
