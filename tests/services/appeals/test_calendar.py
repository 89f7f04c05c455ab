"""Working time on the stored calendar: weekends, 2026 holidays, 调休 working weekends, hours and lunch."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.clock import LOCAL_TZ
from models.calendar import CalendarDay
from services.appeals.calendar import (
    HOLIDAYS_2026,
    WorkCalendar,
    WorkingHours,
    add_working_minutes,
    is_workday,
    seed_calendar,
    set_day,
)

DAY = 8 * 60


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


def test_plain_week_without_calendar_rows(session: Session) -> None:
    assert is_workday(session, date(2026, 11, 20))  # Friday
    assert not is_workday(session, date(2026, 11, 21))  # Saturday
    assert not is_workday(session, date(2026, 11, 22))  # Sunday
    # Friday 10:00 + 3 working days = Wednesday 10:00 (the weekend does not count).
    assert add_working_minutes(session, local(2026, 11, 20, 10), 3 * DAY) == local(2026, 11, 25, 10)


def test_seeded_2026_holidays_and_makeup_days(session: Session) -> None:
    assert seed_calendar(session) == len(HOLIDAYS_2026)
    assert seed_calendar(session) == 0  # idempotent
    assert session.scalar(select(func.count()).select_from(CalendarDay)) == len(HOLIDAYS_2026)
    assert not is_workday(session, date(2026, 10, 1))  # 国庆节, a Thursday
    assert not is_workday(session, date(2026, 2, 16))  # 春节, a Monday
    assert is_workday(session, date(2026, 10, 10))  # Saturday worked (调休)
    assert is_workday(session, date(2026, 9, 20))  # Sunday worked (调休)
    assert is_workday(session, date(2026, 1, 4))  # Sunday worked after 元旦


def test_deadline_spans_national_day_and_a_makeup_saturday(session: Session) -> None:
    start = local(2026, 9, 30, 15)  # Wednesday 15:00, the eve of the 国庆 week
    # Without the calendar data the week of 1–7 October would be counted as ordinary working days.
    assert add_working_minutes(session, start, 3 * DAY) == local(2026, 10, 5, 15)
    seed_calendar(session)
    # Sep 30: 2 h; Oct 1–7 off; Oct 8 (Thu) and Oct 9 (Fri): 16 h; Oct 10 (Saturday 调休): the last 6 h.
    assert add_working_minutes(session, start, 3 * DAY) == local(2026, 10, 10, 15)


def test_holiday_and_makeup_day_around_the_frozen_friday(session: Session) -> None:
    start = local(2026, 11, 20, 10)
    set_day(session, date(2026, 11, 23), is_workday=False, name="测试假日")  # Monday off
    assert add_working_minutes(session, start, 3 * DAY) == local(2026, 11, 26, 10)
    set_day(session, date(2026, 11, 21), is_workday=True, name="测试调休上班")  # Saturday worked
    assert add_working_minutes(session, start, 3 * DAY) == local(2026, 11, 25, 10)
    set_day(session, date(2026, 11, 23), is_workday=True, name="改回上班")  # an edit, not a second row
    assert session.scalar(select(func.count()).select_from(CalendarDay)) == 2
    assert add_working_minutes(session, start, 3 * DAY) == local(2026, 11, 24, 10)


def test_outside_hours_and_day_boundaries(session: Session) -> None:
    # Before 09:00 the clock starts at 09:00; after 17:00 it starts the next working day.
    assert add_working_minutes(session, local(2026, 11, 20, 7, 30), 60) == local(2026, 11, 20, 10)
    assert add_working_minutes(session, local(2026, 11, 20, 18), 60) == local(2026, 11, 23, 10)
    # Work that ends exactly at 17:00 is due at 17:00, not at 09:00 the next day.
    assert add_working_minutes(session, local(2026, 11, 20, 9), DAY) == local(2026, 11, 20, 17)
    # Starting on a Sunday counts from Monday 09:00.
    assert add_working_minutes(session, local(2026, 11, 22, 12), 120) == local(2026, 11, 23, 11)
    # Results are aware UTC.
    result = add_working_minutes(session, local(2026, 11, 20, 10), 120)
    assert result.utcoffset() is not None
    assert result.utcoffset().total_seconds() == 0


def test_lunch_break_is_optional(session: Session) -> None:
    hours = WorkingHours(lunch_start=time(12, 0), lunch_end=time(13, 30))
    cal = WorkCalendar(session, hours)
    assert hours.minutes_per_day == DAY - 90
    assert cal.add_working_minutes(local(2026, 11, 20, 11), 120) == local(2026, 11, 20, 14, 30)
    assert WorkCalendar(session).add_working_minutes(local(2026, 11, 20, 11), 120) == local(2026, 11, 20, 13)


def test_working_minutes_between(session: Session) -> None:
    cal = WorkCalendar(session)
    assert cal.working_minutes_between(local(2026, 11, 20, 16), local(2026, 11, 23, 10)) == 120
    assert cal.working_minutes_between(local(2026, 11, 23, 10), local(2026, 11, 20, 16)) == -120
    seed_calendar(session)
    cal = WorkCalendar(session)
    assert cal.working_minutes_between(local(2026, 9, 30, 15), local(2026, 10, 10, 15)) == 3 * DAY
