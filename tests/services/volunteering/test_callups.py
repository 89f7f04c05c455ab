"""Call-ups: audience, window, first-come quota under contention, waitlist, reminders, check-in, no-shows."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from infra.web import get_db
from models import Resident
from models.callup import CallupShift, ShiftSignup
from models.outbox import PendingJob
from models.party import PartyMember
from models.volunteer import VolunteerSkill
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound
from services.notifications import notify
from services.points import ledger as points
from services.volunteering import callups, teams
from services.volunteering.callups import ShiftSpec

SECRET = "test-secret"


def person(session: Any, org: Any, name: str, grid: str = "G1", volunteer: bool = True) -> Resident:
    r = Resident(name=name, openid=f"o-{name}", community_id=org.community.id, grid_id=org.grids[grid].id,
                 is_volunteer=volunteer, subscribed=True)  # fmt: skip
    session.add(r)
    session.flush()
    return r


def make_callup(session: Any, org: Any, clock: Any, *, quota: int = 2, shifts: int = 1, **kw: Any) -> Any:
    start = clock.now() + timedelta(days=1)
    specs = [
        ShiftSpec(f"{i + 1}号门岗", start + timedelta(hours=3 * i), start + timedelta(hours=3 * i + 2), quota)
        for i in range(shifts)
    ]
    args: dict[str, Any] = {
        "community_id": org.community.id, "title": "疫苗接种点秩序维护", "shifts": specs,
        "audience": {"volunteers": True}, "signup_closes_at": start - timedelta(hours=1), "points_on_attendance": 10,
    }  # fmt: skip
    args.update(kw)
    return callups.create_callup(session, org.staff["community_staff"].id, **args)


def test_audience_filters_by_kind_grid_team_and_skill(session, org, clock):
    staff = org.staff["community_staff"].id
    medic = person(session, org, "医生")
    session.add(VolunteerSkill(resident_id=medic.id, skill="急救"))
    g2 = person(session, org, "二格", "G2")
    resident_only = person(session, org, "居民", volunteer=False)
    member = person(session, org, "党员", volunteer=False)
    session.add(PartyMember(resident_id=member.id, community_id=org.community.id, category="在职", status="verified"))
    pending_member = person(session, org, "待核党员", volunteer=False)
    session.add(PartyMember(resident_id=pending_member.id, community_id=org.community.id, category="流动"))
    team = teams.create_team(session, staff, community_id=org.community.id, name="二网格队")
    teams.add_member(session, staff, team.id, g2.id)
    session.flush()

    def reach(audience: dict) -> set[int]:
        c = make_callup(session, org, clock, audience=audience)
        return set(session.scalars(callups.audience_stmt(c)))

    assert reach({"volunteers": True}) == {medic.id, g2.id}
    assert reach({"volunteers": False, "party_members": True}) == {member.id}
    assert reach({"volunteers": True, "party_members": True}) == {medic.id, g2.id, member.id}
    assert reach({"volunteers": True, "grid_ids": [org.grids["G2"].id]}) == {g2.id}
    assert reach({"volunteers": True, "team_ids": [team.id]}) == {g2.id}
    assert reach({"volunteers": True, "skills": ["急救"]}) == {medic.id}
    assert resident_only.id not in reach({"volunteers": True, "party_members": True})
    with pytest.raises(DomainError, match="至少选择"):
        make_callup(session, org, clock, audience={"volunteers": False})
    c = make_callup(session, org, clock, audience={"volunteers": True, "skills": ["急救"]})
    with pytest.raises(Forbidden, match="不在本次倡议"):
        callups.sign_up(session, callups.shifts_of(session, c.id)[0].id, g2.id)


def test_grid_staff_call_up_only_their_own_grid(session, org, clock):
    leader = org.staff["g1_leader"].id
    start = clock.now() + timedelta(days=1)
    spec = [ShiftSpec("门岗", start, start + timedelta(hours=1), 1)]
    with pytest.raises(Forbidden):
        callups.create_callup(session, leader, community_id=org.community.id, title="x", shifts=spec,
                              audience={"volunteers": True}, signup_closes_at=start)  # fmt: skip
    ok = callups.create_callup(session, leader, community_id=org.community.id, title="x", shifts=spec,
                               audience={"grid_ids": [org.grids["G1"].id]}, signup_closes_at=start)  # fmt: skip
    assert ok.audience["grid_ids"] == [org.grids["G1"].id]


def test_sign_up_window(session, org, clock):
    c = make_callup(session, org, clock, signup_opens_at=clock.now() + timedelta(hours=1))
    shift = callups.shifts_of(session, c.id)[0]
    v = person(session, org, "甲")
    with pytest.raises(Conflict, match="尚未开始"):
        callups.sign_up(session, shift.id, v.id)
    clock.advance(timedelta(hours=2))
    assert callups.sign_up(session, shift.id, v.id).status == "confirmed"
    clock.advance(timedelta(days=1))
    with pytest.raises(Conflict, match="已截止"):
        callups.sign_up(session, shift.id, person(session, org, "乙").id)


def test_full_shift_waitlists_and_a_freed_place_goes_to_the_first_waiting_who_is_told(session, org, clock):
    c = make_callup(session, org, clock, quota=2)
    shift = callups.shifts_of(session, c.id)[0]
    a, b, w1, w2 = (person(session, org, n) for n in "甲乙丙丁")
    assert [callups.sign_up(session, shift.id, r.id).status for r in (a, b, w1, w2)] == [
        "confirmed", "confirmed", "waitlisted", "waitlisted",
    ]  # fmt: skip
    with pytest.raises(Conflict, match="已报名"):
        callups.sign_up(session, shift.id, a.id)
    _, promoted = callups.cancel(session, shift.id, a.id)
    assert promoted.resident_id == w1.id
    assert promoted.status == "confirmed"
    session.refresh(shift)
    assert shift.taken == 2
    told = [
        j
        for j in session.scalars(select(PendingJob).where(PendingJob.func == notify.RESIDENT_JOB))
        if j.args[0] == w1.id
    ]
    assert len(told) == 1
    assert "候补成功" in told[0].args[1]
    row = session.scalar(select(ShiftSignup).where(ShiftSignup.resident_id == w2.id))
    assert callups.waitlist_position(session, row) == 1
    # A waitlisted person who cancels frees nothing.
    callups.cancel(session, shift.id, w2.id)
    session.refresh(shift)
    assert shift.taken == 2


def test_waitlist_capacity_is_a_limit(session, org, clock):
    c = make_callup(session, org, clock, quota=1, waitlist_capacity=0)
    shift = callups.shifts_of(session, c.id)[0]
    callups.sign_up(session, shift.id, person(session, org, "甲").id)
    with pytest.raises(Conflict) as err:
        callups.sign_up(session, shift.id, person(session, org, "乙").id)
    assert err.value.code == "shift_full"


def test_reminder_once_before_the_shift(session, org, clock):
    c = make_callup(session, org, clock)
    shift = callups.shifts_of(session, c.id)[0]
    v = person(session, org, "甲")
    callups.sign_up(session, shift.id, v.id)
    assert callups.remind_upcoming(session) == 0  # a day ahead: too early
    clock.advance(shift.starts_at - clock.now() - timedelta(minutes=90))
    assert callups.remind_upcoming(session) == 1
    callups.remind_upcoming(session)  # the scheduler's next tick: same key, no second notification
    reminders = [
        j
        for j in session.scalars(select(PendingJob).where(PendingJob.func == notify.RESIDENT_JOB))
        if "提醒" in j.args[1]
    ]
    assert len(reminders) == 1


def test_check_in_is_single_use_and_credits_points_once(session, org, clock):
    c = make_callup(session, org, clock)
    shift = callups.shifts_of(session, c.id)[0]
    v = person(session, org, "甲")
    row = callups.sign_up(session, shift.id, v.id)
    token = callups.qr_for(SECRET, row)
    staff = org.staff["community_staff"].id
    with pytest.raises(Conflict, match="尚未开始"):
        callups.check_in(session, token, staff, secret=SECRET)
    clock.advance(shift.starts_at - clock.now() - timedelta(minutes=10))
    assert callups.check_in(session, token, staff, secret=SECRET).status == "attended"
    with pytest.raises(Conflict, match="不能重复"):
        callups.check_in(session, token, staff, secret=SECRET)
    assert points.balance_of(session, v.id) == 10
    with pytest.raises(DomainError):
        callups.check_in(session, token[:-1] + ("0" if token[-1] != "0" else "1"), staff, secret=SECRET)


def test_the_shift_qr_checks_in_only_confirmed_volunteers_of_that_shift_once(session, org, clock):
    c = make_callup(session, org, clock, quota=1, shifts=2)
    first, second = callups.shifts_of(session, c.id)
    v, waiting, stranger = person(session, org, "甲"), person(session, org, "乙"), person(session, org, "丙")
    callups.sign_up(session, first.id, v.id)
    assert callups.sign_up(session, first.id, waiting.id).status == "waitlisted"
    code = callups.shift_code(SECRET, first)
    assert code != callups.shift_code(SECRET, second)
    with pytest.raises(Conflict, match="尚未开始"):
        callups.check_in_at_shift(session, code, v.id, secret=SECRET)
    clock.advance(first.starts_at - clock.now() - timedelta(minutes=10))
    with pytest.raises(DomainError, match="签名不符"):
        callups.check_in_at_shift(session, code[:-1] + ("0" if code[-1] != "0" else "1"), v.id, secret=SECRET)
    with pytest.raises(DomainError, match="不是本类二维码"):  # a person's own code is not the shift's
        callups.check_in_at_shift(session, callups.qr_for(SECRET, session.scalars(select(ShiftSignup)).first()),
                                  v.id, secret=SECRET)  # fmt: skip
    with pytest.raises(NotFound, match="没有报名"):
        callups.check_in_at_shift(session, code, stranger.id, secret=SECRET)
    with pytest.raises(Conflict, match="未确认"):
        callups.check_in_at_shift(session, code, waiting.id, secret=SECRET)
    assert callups.check_in_at_shift(session, code, v.id, secret=SECRET).status == "attended"
    with pytest.raises(Conflict, match="已签到"):
        callups.check_in_at_shift(session, code, v.id, secret=SECRET)
    assert points.balance_of(session, v.id) == 10


def test_no_shows_are_recorded_after_check_in_closes(session, org, clock):
    c = make_callup(session, org, clock, quota=3)
    shift = callups.shifts_of(session, c.id)[0]
    came, stayed_away = person(session, org, "甲"), person(session, org, "乙")
    row = callups.sign_up(session, shift.id, came.id)
    callups.sign_up(session, shift.id, stayed_away.id)
    clock.advance(shift.starts_at - clock.now())
    callups.check_in(session, callups.qr_for(SECRET, row), org.staff["community_staff"].id, secret=SECRET)
    with pytest.raises(InvalidTransition):
        callups.cancel(session, shift.id, stayed_away.id)
    assert callups.record_no_shows(session) == 0  # check-in still open
    clock.advance(timedelta(hours=5))
    assert callups.record_no_shows(session) == 1
    statuses = dict(session.execute(select(ShiftSignup.resident_id, ShiftSignup.status)).all())
    assert statuses == {came.id: "attended", stayed_away.id: "no_show"}
    [fill] = callups.fill_rate(session, c.id)
    assert (fill["quota"], fill["taken"], fill["attended"], fill["no_show"]) == (3, 2, 1, 1)


# ---------------------------------------------------------------- contention

SHIFTS, QUOTA, EXTRA = 10, 200, 200  # 2,000 places; 2,200 people race for them


def _burst(app: Any) -> None:
    from infra import clock
    from services.demo import seed_org

    db = get_db(app)
    with db.transaction() as s:
        org = seed_org(s)
        start = clock.now() + timedelta(days=1)
        specs = [ShiftSpec(f"点位{i}", start, start + timedelta(hours=2), QUOTA) for i in range(SHIFTS)]
        c = callups.create_callup(s, org.staff["community_staff"].id, community_id=org.community.id, title="两千人动员",
                                  shifts=specs, audience={"volunteers": True}, signup_closes_at=start,
                                  waitlist_capacity=0)  # fmt: skip
        s.execute(
            insert(Resident),
            [{"name": f"志愿者{i}", "community_id": org.community.id, "grid_id": org.grids["G1"].id,
              "is_volunteer": True} for i in range(SHIFTS * QUOTA + EXTRA)],
        )  # fmt: skip
        shift_ids = [sh.id for sh in callups.shifts_of(s, c.id)]
        people = list(s.scalars(select(Resident.id).where(Resident.is_volunteer.is_(True)).order_by(Resident.id)))
    barrier = threading.Barrier(32)

    def one(i: int) -> str:
        if i < 32:
            barrier.wait()
        s = db.session()
        try:
            status = callups.sign_up(s, shift_ids[i % SHIFTS], people[i]).status
            s.commit()
            return status
        except Conflict as e:
            s.rollback()
            return e.code or "conflict"
        finally:
            s.close()

    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = list(pool.map(one, range(len(people))))
    assert outcomes.count("confirmed") == SHIFTS * QUOTA
    assert outcomes.count("shift_full") == EXTRA
    with db.transaction() as s:
        for shift_id in shift_ids:
            rows = s.scalar(
                select(func.count())
                .select_from(ShiftSignup)
                .where(ShiftSignup.shift_id == shift_id, ShiftSignup.status == "confirmed")
            )
            assert s.get(CallupShift, shift_id).taken == QUOTA == rows


def test_two_thousand_places_fill_exactly_under_contention_on_sqlite(app, clock):
    _burst(app)


@pytest.mark.postgres
def test_two_thousand_places_fill_exactly_under_contention_on_postgres(pg_app, clock):
    _burst(pg_app)
