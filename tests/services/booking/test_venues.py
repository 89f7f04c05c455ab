"""Booking rules on a real database: each refusal with its code, the seat guard, waitlist, check-in, no-shows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from infra.clock import LOCAL_TZ
from models.booking import Booking, BookingBan, BookingSeat, NoShowStrike, VenueClosure
from models.resident import Resident
from services.booking import venues as svc
from services.errors import Conflict, DomainError, Forbidden, NotFound

POLICY = svc.BookingPolicy()
HOURS = {str(d): [["09:00", "12:00"], ["14:00", "21:00"]] for d in range(7)}


def local(y: int, m: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=LOCAL_TZ)


SAT_14 = local(2026, 11, 21, 14)  # the clock is frozen at Friday 2026-11-20 10:00 local


@pytest.fixture
def venue(session, org, clock) -> Any:
    v = svc.create_venue(session, community_id=org.community.id, name="会议室", capacity=1, opening_hours=HOURS)
    session.commit()
    return v


@pytest.fixture
def hall(session, org, clock) -> Any:
    v = svc.create_venue(session, community_id=org.community.id, name="阅览室", capacity=3, opening_hours=HOURS)
    session.commit()
    return v


@pytest.fixture
def residents(session, org) -> list[Resident]:
    rows = [Resident(miniapp_openid=f"omini-b{i}", community_id=org.community.id) for i in range(6)]
    session.add_all(rows)
    session.commit()
    return rows


def book(session, venue, resident, starts_at=SAT_14, **kw) -> Booking:
    b = svc.book(session, venue_id=venue.id, resident_id=resident.id, starts_at=starts_at, now=kw.pop("now", None)
                 or _now(), **kw)  # fmt: skip
    session.commit()
    return b


def _now() -> datetime:
    from infra import clock

    return clock.now()


def refused(fn, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as e:
        fn(*args, **kwargs)
    return e.value


def test_slots_follow_opening_hours_in_local_time(session, venue):
    slots = svc.day_slots(venue, date(2026, 11, 21))
    assert len(slots) == 3 + 7
    assert slots[0][0] == local(2026, 11, 21, 9)
    assert slots[0][0].tzinfo == UTC
    assert slots[3][0] == SAT_14  # the lunch break is not a slot


def test_booking_confirms_and_holds_a_seat_row(session, venue, residents):
    b = book(session, venue, residents[0], purpose="楼道议事会")
    assert b.status == "confirmed"
    assert (b.starts_at, b.ends_at) == (SAT_14, SAT_14 + timedelta(hours=1))
    seats = session.scalars(select(BookingSeat).where(BookingSeat.booking_id == b.id)).all()
    assert [(s.slot_start, s.seat_no) for s in seats] == [(SAT_14, 0)]


def test_refusals_name_their_rule(session, venue, residents, clock):
    r = residents[0]
    cases = [
        (dict(starts_at=local(2026, 11, 21, 12)), "outside_opening_hours"),  # lunch break
        (dict(starts_at=local(2026, 11, 21, 14, 30)), "outside_opening_hours"),  # off the grid
        (dict(starts_at=local(2026, 11, 21, 11), slots=2), "outside_opening_hours"),  # spans the break
        (dict(starts_at=SAT_14, slots=3), "too_many_slots"),
        (dict(starts_at=local(2026, 11, 20, 9)), "slot_in_past"),
        (dict(starts_at=local(2026, 11, 20, 11) - timedelta(minutes=0), now=local(2026, 11, 20, 10, 30)),
         "too_late_to_book"),
        (dict(starts_at=local(2026, 12, 10, 14)), "too_far_ahead"),
    ]  # fmt: skip
    for kwargs, code in cases:
        now = kwargs.pop("now", clock.now())
        e = refused(svc.book, session, venue_id=venue.id, resident_id=r.id, now=now, **kwargs)
        session.rollback()
        assert e.code == code, (kwargs, e.code, e.message)
        assert e.message
    e = refused(svc.book, session, venue_id=999, resident_id=r.id, starts_at=SAT_14, now=clock.now())
    assert isinstance(e, NotFound)


def test_blackouts_and_holidays_close_the_venue(session, org, venue, residents, clock):
    session.add(VenueClosure(community_id=org.community.id, venue_id=venue.id, day=date(2026, 11, 21), reason="消杀"))
    session.add(VenueClosure(community_id=org.community.id, day=date(2026, 11, 22), kind="holiday", reason="节假日"))
    session.commit()
    e = refused(svc.book, session, venue_id=venue.id, resident_id=residents[0].id, starts_at=SAT_14, now=clock.now())
    assert (e.code, e.message) == ("venue_closed", "the venue is closed on 2026-11-21: 消杀")
    session.rollback()
    sunday = local(2026, 11, 22, 14)
    e = refused(svc.book, session, venue_id=venue.id, resident_id=residents[0].id, starts_at=sunday, now=clock.now())
    assert e.code == "venue_closed"
    assert "holiday" in e.message
    session.rollback()
    venue.closed_on_holidays = False  # a venue that stays open on public holidays
    session.commit()
    assert book(session, venue, residents[0], sunday).status == "confirmed"
    slots = svc.slot_availability(session, venue, date(2026, 11, 21), now=clock.now())
    assert {s["reason"] for s in slots} == {"venue_closed"}


def test_capacity_is_enforced_and_full_slots_refuse_or_waitlist(session, hall, residents):
    for r in residents[:3]:
        assert book(session, hall, r).status == "confirmed"
    e = refused(svc.book, session, venue_id=hall.id, resident_id=residents[3].id, starts_at=SAT_14, now=_now())
    assert isinstance(e, Conflict)
    assert e.code == "slot_full"
    session.rollback()
    w = book(session, hall, residents[3], waitlist=True)
    assert w.status == "waitlisted"
    assert session.scalar(select(func.count(BookingSeat.id)).where(BookingSeat.booking_id == w.id)) == 0
    slot = svc.slot_availability(session, hall, date(2026, 11, 21), now=_now())[3]
    assert (slot["available"], slot["bookable"], slot["reason"]) == (0, False, "slot_full")


def test_the_database_refuses_a_fourth_seat_even_without_the_check(session, hall, residents):
    for r in residents[:3]:
        book(session, hall, r)
    b = Booking(venue_id=hall.id, resident_id=residents[3].id, starts_at=SAT_14, ends_at=SAT_14 + timedelta(hours=1),
                status="confirmed")  # fmt: skip
    session.add(b)
    session.flush()
    # seat 3 does not exist for a 3-seat venue (composite FK), and seat 0 is taken (unique).
    for seat_no in (3, 0):
        with session.begin_nested():
            session.add(BookingSeat(booking_id=b.id, venue_id=hall.id, resident_id=residents[3].id,
                                    slot_start=SAT_14, seat_no=seat_no))  # fmt: skip
            with pytest.raises(IntegrityError):
                session.flush()
            session.rollback()
    session.rollback()


def test_one_resident_cannot_double_book_or_exceed_the_quota(session, hall, venue, residents):
    r = residents[0]
    book(session, hall, r)
    e = refused(svc.book, session, venue_id=hall.id, resident_id=r.id, starts_at=SAT_14, now=_now())
    assert e.code == "already_booked"
    session.rollback()
    book(session, venue, r, local(2026, 11, 22, 9))
    e = refused(svc.book, session, venue_id=venue.id, resident_id=r.id, starts_at=local(2026, 11, 23, 9), now=_now())
    assert isinstance(e, Forbidden)
    assert e.code == "quota_exceeded"
    assert "2 个未到期的预约" in e.message


def test_cancel_frees_the_seat_and_respects_the_cutoff(session, venue, residents, clock):
    b = book(session, venue, residents[0])
    svc.cancel(session, b.id, resident_id=residents[0].id, now=clock.now(), policy=POLICY)
    session.commit()
    assert b.status == "cancelled"
    assert book(session, venue, residents[1]).status == "confirmed"  # the slot is free again
    # Within the 120-minute cut-off the booking stands.
    late = book(session, venue, residents[2], local(2026, 11, 20, 16))
    e = refused(svc.cancel, session, late.id, resident_id=residents[2].id,
                now=local(2026, 11, 20, 14, 30), policy=POLICY)  # fmt: skip
    assert e.code == "too_late_to_cancel"
    session.rollback()
    # Another resident's booking is not found.
    e = refused(svc.cancel, session, late.id, resident_id=residents[0].id, now=clock.now(), policy=POLICY)
    assert isinstance(e, NotFound)


def test_waitlist_promotes_in_order_with_a_confirmation_window(session, venue, residents, clock):
    first = book(session, venue, residents[0])
    w1 = book(session, venue, residents[1], waitlist=True)
    w2 = book(session, venue, residents[2], waitlist=True)
    svc.cancel(session, first.id, resident_id=residents[0].id, now=clock.now(), policy=POLICY)
    session.commit()
    session.refresh(w1)
    session.refresh(w2)
    assert (w1.status, w2.status) == ("offered", "waitlisted")
    assert w1.offer_expires_at == clock.now() + timedelta(minutes=30)
    # w2 cannot take w1's held seat meanwhile.
    e = refused(svc.confirm_offer, session, w2.id, resident_id=residents[2].id, now=clock.now())
    assert e.code == "no_offer"
    session.rollback()
    # w1 lets the window pass: the offer expires and w2 is offered the seat.
    clock.advance(timedelta(minutes=31))
    assert svc.expire_offers(session, now=clock.now(), policy=POLICY) == 1
    session.commit()
    session.refresh(w1)
    session.refresh(w2)
    assert (w1.status, w2.status) == ("expired", "offered")
    e = refused(svc.confirm_offer, session, w1.id, resident_id=residents[1].id, now=clock.now())
    assert e.code == "no_offer"
    session.rollback()
    svc.confirm_offer(session, w2.id, resident_id=residents[2].id, now=clock.now())
    session.commit()
    assert w2.status == "confirmed"
    # Expiring again changes nothing (idempotent).
    assert svc.expire_offers(session, now=clock.now(), policy=POLICY) == 0


def test_offer_expired_when_confirmed_too_late(session, venue, residents, clock):
    first = book(session, venue, residents[0])
    w1 = book(session, venue, residents[1], waitlist=True)
    svc.cancel(session, first.id, resident_id=residents[0].id, now=clock.now(), policy=POLICY)
    session.commit()
    e = refused(svc.confirm_offer, session, w1.id, resident_id=residents[1].id,
                now=clock.now() + timedelta(minutes=30))  # fmt: skip
    assert e.code == "offer_expired"


def test_approval_venues_keep_bookings_pending_until_staff_decide(session, org, residents, clock):
    room = svc.create_venue(session, community_id=org.community.id, name="活动室", opening_hours=HOURS,
                            requires_approval=True)  # fmt: skip
    session.commit()
    b = book(session, room, residents[0])
    w = book(session, room, residents[1], waitlist=True)
    assert b.status == "pending"  # it holds the seat while waiting
    e = refused(svc.decide, session, b.id, staff_id=org.staff["pc_lh"].id, approve=True, note=None,
                now=clock.now(), policy=POLICY)  # fmt: skip
    assert isinstance(e, Forbidden)
    session.rollback()
    svc.decide(session, b.id, staff_id=org.staff["community_staff"].id, approve=False, note="时间冲突",
               now=clock.now(), policy=POLICY)  # fmt: skip
    session.commit()
    session.refresh(w)
    assert (b.status, w.status) == ("rejected", "offered")
    svc.confirm_offer(session, w.id, resident_id=residents[1].id, now=clock.now())
    assert w.status == "pending"  # confirmed offers still need approval here
    svc.decide(session, w.id, staff_id=org.staff["community_staff"].id, approve=True, note=None,
               now=clock.now(), policy=POLICY)  # fmt: skip
    assert w.status == "confirmed"
    e = refused(svc.decide, session, w.id, staff_id=org.staff["community_staff"].id, approve=True, note=None,
                now=clock.now(), policy=POLICY)  # fmt: skip
    assert e.code == "not_pending"


def test_qr_check_in_is_signed_single_use_and_windowed(session, org, venue, residents, clock):
    b = book(session, venue, residents[0])
    staff_id = org.staff["community_staff"].id
    code = svc.checkin_token(b, "secret")
    e = refused(svc.check_in, session, code + "x", secret="secret", staff_id=staff_id, now=clock.now())
    assert e.code == "invalid_code"
    e = refused(svc.check_in, session, code, secret="other-secret", staff_id=staff_id, now=clock.now())
    assert e.code == "invalid_code"
    e = refused(svc.check_in, session, code, secret="secret", staff_id=staff_id, now=clock.now())
    assert (e.code, e.message) == ("too_early", "签到 13:45 开始")
    session.rollback()
    at = SAT_14 - timedelta(minutes=5)
    svc.check_in(session, code, secret="secret", staff_id=staff_id, now=at)
    session.commit()
    assert (b.status, b.checked_in_at, b.checked_in_by_staff_id) == ("checked_in", at, staff_id)
    e = refused(svc.check_in, session, code, secret="secret", staff_id=staff_id, now=at)
    assert e.code == "code_used"
    session.rollback()
    # A check-in after the no-show grace period is refused.
    late = book(session, venue, residents[1], local(2026, 11, 21, 15))
    e = refused(svc.check_in, session, svc.checkin_token(late, "secret"), secret="secret", staff_id=staff_id,
                now=local(2026, 11, 21, 15, 16))  # fmt: skip
    assert e.code == "too_late"


def test_no_shows_are_released_with_strikes_and_three_in_sixty_days_ban(session, venue, residents, clock):
    r = residents[0]
    days = [local(2026, 11, 21, 14), local(2026, 11, 24, 14), local(2026, 11, 27, 14)]
    for start in days:
        b = book(session, venue, r, start, now=start - timedelta(days=1))
        assert svc.release_no_shows(session, now=start + timedelta(minutes=14), policy=POLICY) == []
        released = svc.release_no_shows(session, now=start + timedelta(minutes=16), policy=POLICY)
        session.commit()
        assert released == [b.id]
        assert b.status == "no_show"
        assert session.scalar(select(func.count(BookingSeat.id)).where(BookingSeat.booking_id == b.id)) == 0
    # Running again does nothing more.
    assert svc.release_no_shows(session, now=days[-1] + timedelta(hours=1), policy=POLICY) == []
    assert session.scalar(select(func.count(NoShowStrike.id))) == 3
    bans = session.scalars(select(BookingBan)).all()
    assert len(bans) == 1
    ban_start = days[-1] + timedelta(minutes=16)
    assert (bans[0].starts_at, bans[0].ends_at) == (ban_start, ban_start + timedelta(days=14))
    e = refused(svc.book, session, venue_id=venue.id, resident_id=r.id, starts_at=local(2026, 11, 29, 14),
                now=local(2026, 11, 28, 10))  # fmt: skip
    assert (e.code, e.message) == ("booking_banned", "多次预约未到，2026-12-11 14:16 前暂停预约")
    session.rollback()
    # After the ban the resident books again.
    after = local(2026, 12, 11, 15)
    assert book(session, venue, r, local(2026, 12, 12, 14), now=after).status == "confirmed"


def test_strikes_outside_the_window_do_not_ban(session, venue, residents):
    r = residents[0]
    for start in [local(2026, 11, 21, 14), local(2026, 12, 15, 14), local(2027, 1, 25, 14)]:
        book(session, venue, r, start, now=start - timedelta(days=1))
        svc.release_no_shows(session, now=start + timedelta(minutes=20), policy=POLICY)
        session.commit()
    assert session.scalar(select(func.count(NoShowStrike.id))) == 3
    assert session.scalar(select(func.count(BookingBan.id))) == 0


def test_checked_in_bookings_are_not_no_shows(session, org, venue, residents):
    b = book(session, venue, residents[0])
    svc.check_in(session, svc.checkin_token(b, "s"), secret="s", staff_id=org.staff["community_staff"].id,
                 now=SAT_14)  # fmt: skip
    session.commit()
    assert svc.release_no_shows(session, now=SAT_14 + timedelta(hours=2), policy=POLICY) == []


def test_capacity_can_grow_but_not_shrink_below_held_seats(session, hall, residents):
    for r in residents[:3]:
        book(session, hall, r)
    e = refused(svc.set_capacity, session, hall, 2)
    assert e.code == "seats_in_use"
    session.rollback()
    svc.set_capacity(session, hall, 4)
    session.commit()
    assert book(session, hall, residents[3]).status == "confirmed"


def test_policy_reads_settings():
    p = svc.BookingPolicy.from_settings({"BOOKING_STRIKE_LIMIT": "2", "BOOKING_BAN_DAYS": 7})
    assert (p.strike_limit, p.ban_length, p.strike_window) == (2, timedelta(days=7), timedelta(days=60))
