"""Event signup: window, eligibility, capacity under concurrency, FIFO promotion, QR check-in + points."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from infra.web import get_db
from models import Resident
from models.events import Event, EventSignup
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound
from services.points import events
from services.points import ledger as points

SECRET = "test-secret"


def resident(session: Any, org: Any, name: str = "陈居民", grid: str = "G1", volunteer: bool = True) -> Resident:
    r = Resident(name=name, community_id=org.community.id, grid_id=org.grids[grid].id, is_volunteer=volunteer)
    session.add(r)
    session.flush()
    return r


def make_event(session: Any, org: Any, clock: Any, **kw: Any) -> Event:
    """An event tomorrow 14:00-16:00 local, signup open now until 13:00 tomorrow."""
    start = clock.now() + timedelta(days=1, hours=4)
    args: dict[str, Any] = {
        "title": "垃圾分类宣传",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "capacity": 2,
        "signup_closes_at": start - timedelta(hours=1),
        "points_on_attendance": 8,
    }
    args.update(kw)
    return events.create_event(session, org.staff["community_staff"].id, **args)


def test_signup_takes_seats_then_waitlists_in_order(session, org, clock):
    ev = make_event(session, org, clock)
    a, b, c, d = (resident(session, org, n) for n in "甲乙丙丁")
    assert events.signup(session, ev.id, a.id).signup.status == "confirmed"
    assert events.signup(session, ev.id, b.id).signup.status == "confirmed"
    third = events.signup(session, ev.id, c.id)
    fourth = events.signup(session, ev.id, d.id)
    assert (third.signup.status, third.position) == ("waitlisted", 1)
    assert (fourth.signup.status, fourth.position) == ("waitlisted", 2)
    assert ev.confirmed_count == 2 == events.count_confirmed(session, ev.id)
    with pytest.raises(Conflict, match="您已报名该活动"):
        events.signup(session, ev.id, a.id)
    with pytest.raises(Conflict, match="您已在候补名单中"):
        events.signup(session, ev.id, c.id)


def test_cancelling_a_seat_promotes_the_first_waiting_in_the_same_transaction(session, org, clock):
    ev = make_event(session, org, clock)
    a, b, c, d = (resident(session, org, n) for n in "甲乙丙丁")
    for r in (a, b, c, d):
        events.signup(session, ev.id, r.id)
    session.commit()
    cancelled, promoted = events.cancel(session, ev.id, a.id)
    assert cancelled.status == "cancelled"
    assert promoted is not None
    assert promoted.resident_id == c.id
    assert promoted.promoted_at == clock.now()
    assert events.waitlist_position(session, events.signup_of(session, ev.id, d.id)) == 1
    assert ev.confirmed_count == 2 == events.count_confirmed(session, ev.id)
    # A waitlisted person leaving frees nothing and promotes nobody.
    _, nobody = events.cancel(session, ev.id, d.id)
    assert nobody is None
    assert ev.confirmed_count == 2
    # With an empty waitlist a cancellation frees the seat; signing up again goes to the back of the queue.
    _, nobody = events.cancel(session, ev.id, b.id)
    assert nobody is None
    assert ev.confirmed_count == 1
    again = events.signup(session, ev.id, a.id)
    assert again.signup.status == "confirmed"
    assert again.signup.id == cancelled.id
    with pytest.raises(NotFound, match="没有报名"):
        events.cancel(session, ev.id, b.id)


def test_window_eligibility_and_full_waitlist_refusals(session, org, clock):
    later = make_event(session, org, clock, signup_opens_at=clock.now() + timedelta(hours=2))
    r = resident(session, org)
    with pytest.raises(Conflict, match="报名尚未开始"):
        events.signup(session, later.id, r.id)
    ev = make_event(session, org, clock, capacity=1, waitlist_capacity=1)
    g2 = resident(session, org, "二网格", grid="G2")
    only_g1 = events.create_event(
        session, org.staff["g1_leader"].id, title="一网格议事会", starts_at=ev.starts_at, ends_at=ev.ends_at,
        capacity=5, grid_id=org.grids["G1"].id,
    )  # fmt: skip
    with pytest.raises(Forbidden, match="仅限本网格居民"):
        events.signup(session, only_g1.id, g2.id)
    vol_only = make_event(session, org, clock, volunteers_only=True)
    plain = resident(session, org, "普通居民", volunteer=False)
    with pytest.raises(Forbidden, match="仅限志愿者"):
        events.signup(session, vol_only.id, plain.id)
    outsider = Resident(name="外社区", community_id=None)
    session.add(outsider)
    session.flush()
    with pytest.raises(Forbidden, match="仅限本社区居民"):
        events.signup(session, ev.id, outsider.id)
    events.signup(session, ev.id, r.id)
    events.signup(session, ev.id, g2.id)
    with pytest.raises(Conflict, match="候补名单也已满"):
        events.signup(session, ev.id, plain.id)
    clock.advance(timedelta(days=1, hours=3))  # past the close
    with pytest.raises(Conflict, match="报名已截止"):
        events.signup(session, vol_only.id, plain.id)
    clock.advance(timedelta(hours=1))  # the event has started
    with pytest.raises(InvalidTransition, match="活动已开始"):
        events.cancel(session, ev.id, r.id)
    with pytest.raises(NotFound):
        events.signup(session, 9999, r.id)


def test_only_organisers_in_scope_create_and_the_times_must_make_sense(session, org, clock):
    start = clock.now() + timedelta(days=2)
    with pytest.raises(Forbidden, match="无权组织"):
        events.create_event(session, org.staff["pc_lh"].id, title="x", starts_at=start, ends_at=start, capacity=1)
    with pytest.raises(Forbidden, match="网格员只能管理本网格"):
        events.create_event(
            session, org.staff["g1_leader"].id, title="x", starts_at=start,
            ends_at=start + timedelta(hours=1), capacity=1, grid_id=org.grids["G2"].id,
        )  # fmt: skip
    with pytest.raises(DomainError, match="结束时间必须晚于开始时间"):
        make_event(session, org, clock, ends_at=clock.now() + timedelta(days=1))
    with pytest.raises(DomainError, match="名额必须大于 0"):
        make_event(session, org, clock, capacity=0)
    with pytest.raises(DomainError, match="活动开始前截止"):
        make_event(session, org, clock, signup_closes_at=clock.now() + timedelta(days=3))
    ev = make_event(session, org, clock)
    events.cancel_event(session, ev.id, org.staff["community_staff"].id)
    with pytest.raises(Conflict, match="活动已取消"):
        events.signup(session, ev.id, resident(session, org).id)


def test_check_in_is_single_use_in_its_window_and_credits_points_once(session, org, clock):
    ev = make_event(session, org, clock, capacity=1)
    a, b = resident(session, org, "甲"), resident(session, org, "乙")
    qr_a = events.qr_for(SECRET, events.signup(session, ev.id, a.id).signup)
    qr_b = events.qr_for(SECRET, events.signup(session, ev.id, b.id).signup)  # waitlisted
    session.commit()
    organiser = org.staff["community_staff"].id
    with pytest.raises(Conflict, match="签到尚未开始"):
        events.check_in(session, qr_a, organiser, secret=SECRET)
    clock.advance(timedelta(days=1, hours=3, minutes=30))  # 30 min before the start
    with pytest.raises(Forbidden, match="无权组织"):
        events.check_in(session, qr_a, org.staff["pc_lh"].id, secret=SECRET)
    with pytest.raises(Conflict, match="未确认"):
        events.check_in(session, qr_b, organiser, secret=SECRET)
    row = events.check_in(session, qr_a, organiser, secret=SECRET)
    session.commit()
    assert row.checked_in_at == clock.now()
    assert points.balance_of(session, a.id) == 8
    with pytest.raises(Conflict, match="不能重复使用"):
        events.check_in(session, qr_a, organiser, secret=SECRET)
    assert points.balance_of(session, a.id) == 8
    clock.advance(timedelta(minutes=-60))  # back before the start: only the check-in blocks cancelling
    with pytest.raises(InvalidTransition, match="已签到"):
        events.cancel(session, ev.id, a.id)
    clock.advance(timedelta(hours=10))
    with pytest.raises(Conflict, match="签到已结束"):
        events.check_in(session, qr_b, organiser, secret=SECRET)
    with pytest.raises(DomainError, match="签名不符"):
        events.check_in(session, qr_a.replace("evt.", "evt.9"), organiser, secret=SECRET)


def test_a_re_signup_invalidates_the_old_check_in_code(session, org, clock):
    ev = make_event(session, org, clock)
    r = resident(session, org)
    old = events.qr_for(SECRET, events.signup(session, ev.id, r.id).signup)
    events.cancel(session, ev.id, r.id)
    new = events.qr_for(SECRET, events.signup(session, ev.id, r.id).signup)
    clock.advance(timedelta(days=1, hours=4))
    with pytest.raises(NotFound, match="二维码已失效"):
        events.check_in(session, old, org.staff["community_staff"].id, secret=SECRET)
    assert events.check_in(session, new, org.staff["community_staff"].id, secret=SECRET).checked_in_at


def test_listing_shows_community_wide_and_own_grid_events(session, org, clock):
    everyone = make_event(session, org, clock)
    start = clock.now() + timedelta(days=1)
    g2_only = events.create_event(
        session, org.staff["g2_leader"].id, title="二网格", starts_at=start,
        ends_at=start + timedelta(hours=1), capacity=3, grid_id=org.grids["G2"].id,
    )  # fmt: skip
    g1_ids = [e.id for e in events.list_events(session, community_id=org.community.id, grid_id=org.grids["G1"].id)]
    g2_ids = [e.id for e in events.list_events(session, community_id=org.community.id, grid_id=org.grids["G2"].id)]
    assert g1_ids == [everyone.id]
    assert set(g2_ids) == {everyone.id, g2_only.id}


# ---------------------------------------------------------------- concurrency


def _fifty_for_the_last_seat(app: Any) -> None:
    from services.demo import seed_org

    db = get_db(app)
    with db.transaction() as s:
        org = seed_org(s)
        from infra import clock

        ev = events.create_event(
            s, org.staff["community_staff"].id, title="最后一席", starts_at=clock.now() + timedelta(days=1),
            ends_at=clock.now() + timedelta(days=1, hours=2), capacity=3, waitlist_capacity=0,
        )  # fmt: skip
        early = [resident(s, org, f"早{i}") for i in range(2)]
        for r in early:
            events.signup(s, ev.id, r.id)
        ids = [resident(s, org, f"居民{i}").id for i in range(50)]
        event_id = ev.id
    barrier = threading.Barrier(50)
    outcomes: list[Any] = [None] * 50

    def run(i: int) -> None:
        s = db.session()
        try:
            barrier.wait()
            outcomes[i] = events.signup(s, event_id, ids[i]).signup.status
            s.commit()
        except Exception as e:
            s.rollback()
            outcomes[i] = e
        finally:
            s.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("confirmed") == 1, outcomes[:3]
    assert all(isinstance(o, Conflict) and o.code == "event_full" for o in outcomes if o != "confirmed")
    with db.transaction() as s:
        ev = s.get(Event, event_id)
        assert ev.confirmed_count == 3 == events.count_confirmed(s, event_id)
        assert len(list(s.scalars(select(EventSignup).where(EventSignup.event_id == event_id)))) == 3


def test_fifty_signups_for_the_last_seat_on_sqlite(app, clock):
    _fifty_for_the_last_seat(app)


@pytest.mark.postgres
def test_fifty_signups_for_the_last_seat_on_postgres(pg_app, clock):
    _fifty_for_the_last_seat(pg_app)
