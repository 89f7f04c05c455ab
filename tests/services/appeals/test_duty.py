"""The on-duty roster (值班表): shifts, the rotation on the holiday calendar, who is on duty, who triages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.clock import LOCAL_TZ
from models import DutyShift
from services.appeals import duty
from services.appeals.calendar import seed_calendar
from services.demo import seed_duty_roster
from services.errors import DomainError, NotFound


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


def ids(people: list[Any]) -> list[int]:
    return [p.id for p in people]


def test_explicit_shift_covers_its_range_only(session: Session, org: Any) -> None:
    member = org.staff["g2_leader"]
    duty.add_shift(session, org.community.id, member.id, local(2026, 12, 5, 17, 30), local(2026, 12, 6, 8, 30))
    assert ids(duty.on_duty(session, org.community.id, local(2026, 12, 6, 4, 45))) == [member.id]
    assert duty.on_duty(session, org.community.id, local(2026, 12, 6, 8, 30)) == []  # the end is exclusive
    assert duty.on_duty(session, org.community.id, local(2026, 12, 5, 17, 29)) == []
    # Writing the same shift again changes it instead of adding a second row.
    duty.add_shift(session, org.community.id, member.id, local(2026, 12, 5, 17, 30), local(2026, 12, 6, 9, 0))
    assert session.scalar(select(func.count()).select_from(DutyShift)) == 1
    assert ids(duty.on_duty(session, org.community.id, local(2026, 12, 6, 8, 45))) == [member.id]
    # An inactive staff member is on nobody's list.
    member.active = False
    session.flush()
    assert duty.on_duty(session, org.community.id, local(2026, 12, 6, 4, 45)) == []


def test_bad_shifts_are_refused(session: Session, org: Any) -> None:
    sid, cid = org.staff["g1_leader"].id, org.community.id
    with pytest.raises(DomainError, match="end after"):
        duty.add_shift(session, cid, sid, local(2026, 12, 6, 9), local(2026, 12, 6, 9))
    with pytest.raises(DomainError, match="time zone"):
        duty.add_shift(session, cid, sid, datetime(2026, 12, 6, 9), datetime(2026, 12, 6, 10))
    with pytest.raises(DomainError, match="shift must be"):
        duty.add_shift(session, cid, sid, local(2026, 12, 6, 9), local(2026, 12, 6, 10), shift="weekend")
    with pytest.raises(NotFound):
        duty.add_shift(session, cid, 999_999, local(2026, 12, 6, 9), local(2026, 12, 6, 10))
    with pytest.raises(DomainError, match="at least one"):
        duty.plan_rotation(session, cid, date(2026, 12, 1), 7, night_staff=[])


def test_rotation_follows_the_holiday_calendar(session: Session, org: Any) -> None:
    seed_calendar(session)
    a, b, sec = org.staff["g1_leader"].id, org.staff["g2_leader"].id, org.staff["secretary"].id
    # 2026-09-30 (Wed, workday) to 2026-10-03 (国庆: Thu 1st–Sat 3rd are holidays).
    rows = duty.plan_rotation(session, org.community.id, date(2026, 9, 30), 4, night_staff=[a, b], day_staff=[sec])
    nights = [r for r in rows if r.shift == "night"]
    days = [r for r in rows if r.shift == "day"]
    assert len(nights) == 4
    assert [r.starts_at.astimezone(LOCAL_TZ).date() for r in days] == [date(2026, 10, d) for d in (1, 2, 3)]
    assert {r.staff_id for r in nights} == {a, b}
    # Nights alternate; a holiday morning is the day shift's, the night after it the night shift's.
    assert ids(duty.on_duty(session, org.community.id, local(2026, 10, 1, 10))) == [sec]
    first_night = ids(duty.on_duty(session, org.community.id, local(2026, 10, 1, 23)))
    second_night = ids(duty.on_duty(session, org.community.id, local(2026, 10, 2, 23)))
    assert len(first_night) == len(second_night) == 1
    assert first_night != second_night
    # The workday's office hours are not a shift: the office is staffed.
    assert duty.on_duty(session, org.community.id, local(2026, 9, 30, 10)) == []
    # Planning an overlapping range again puts the same people on the same nights (turns follow the date).
    duty.plan_rotation(session, org.community.id, date(2026, 10, 1), 2, night_staff=[a, b], day_staff=[sec])
    assert ids(duty.on_duty(session, org.community.id, local(2026, 10, 1, 23))) == first_night
    assert session.scalar(select(func.count()).select_from(DutyShift)) == len(rows)


def test_triage_staff_by_day_and_by_night(session: Session, org: Any, clock: Any) -> None:
    cid, g1 = org.community.id, org.grids["G1"].id
    desk, leader, night = org.staff["community_staff"], org.staff["g1_leader"], org.staff["g3_leader"]
    # No roster at all: never nobody — the triage desk, by day and by night.
    assert ids(duty.triage_staff(session, cid, g1, local(2026, 12, 6, 4, 45))) == [desk.id]
    duty.add_shift(session, cid, night.id, local(2026, 12, 4, 17, 30), local(2026, 12, 7, 8, 30))
    # Office hours (Friday 10:00): the desk and the grid leader of the place (the duty shift is over by then).
    assert set(ids(duty.triage_staff(session, cid, g1, local(2026, 12, 4, 10)))) == {desk.id, leader.id}
    # Sunday 04:45: whoever is on duty, not people asleep at home.
    assert ids(duty.triage_staff(session, cid, g1, local(2026, 12, 6, 4, 45))) == [night.id]
    assert duty.night_duty(session, cid, local(2026, 12, 4, 10)) == []
    assert ids(duty.night_duty(session, cid, local(2026, 12, 6, 4, 45))) == [night.id]


def test_demo_roster_is_seeded_once(session: Session, org: Any, clock: Any) -> None:
    seed_calendar(session)
    first = seed_duty_roster(session, org)
    assert len(first) >= 14
    again = seed_duty_roster(session, org)
    assert {r.id for r in again} == {r.id for r in first}
    # Tonight someone is on duty for the demo community.
    assert duty.on_duty(session, org.community.id, local(2026, 11, 20, 23))
