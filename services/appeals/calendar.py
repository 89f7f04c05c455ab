"""Working time on the Chinese calendar: public holidays and make-up working days (调休) are data, not code.

A day is a working day when it is Monday–Friday, unless a `CalendarDay` row says otherwise (a holiday on a
weekday, or a 调休 Saturday/Sunday that is worked). Working hours are 09:00–17:00 in the community's time zone
(Asia/Shanghai), optionally minus a lunch break; deadlines are counted in working minutes inside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.clock import LOCAL_TZ
from models.calendar import CalendarDay

# 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04, published by Xinhua; e.g.
# https://politics.gmw.cn/2025-11/04/content_38391083.htm).
# (date, is_workday, name). Weekend holiday days are listed too so staff see why a deadline moved.
HOLIDAYS_2026: tuple[tuple[date, bool, str], ...] = (
    *((date(2026, 1, d), False, "元旦") for d in (1, 2, 3)),
    (date(2026, 1, 4), True, "元旦调休上班"),
    *((date(2026, 2, d), False, "春节") for d in range(15, 24)),
    (date(2026, 2, 14), True, "春节调休上班"),
    (date(2026, 2, 28), True, "春节调休上班"),
    *((date(2026, 4, d), False, "清明节") for d in (4, 5, 6)),
    *((date(2026, 5, d), False, "劳动节") for d in range(1, 6)),
    (date(2026, 5, 9), True, "劳动节调休上班"),
    *((date(2026, 6, d), False, "端午节") for d in (19, 20, 21)),
    *((date(2026, 9, d), False, "中秋节") for d in (25, 26, 27)),
    *((date(2026, 10, d), False, "国庆节") for d in range(1, 8)),
    (date(2026, 9, 20), True, "国庆节调休上班"),
    (date(2026, 10, 10), True, "国庆节调休上班"),
)


@dataclass(frozen=True)
class WorkingHours:
    """The working day: start and end, and an optional lunch break that does not count."""

    start: time = time(9, 0)
    end: time = time(17, 0)
    lunch_start: time | None = None
    lunch_end: time | None = None
    tz: ZoneInfo = LOCAL_TZ

    def periods(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working periods of `day` as aware local datetimes (one, or two around lunch)."""
        start = datetime.combine(day, self.start, self.tz)
        end = datetime.combine(day, self.end, self.tz)
        if self.lunch_start is None or self.lunch_end is None:
            return [(start, end)]
        return [
            (start, datetime.combine(day, self.lunch_start, self.tz)),
            (datetime.combine(day, self.lunch_end, self.tz), end),
        ]

    @property
    def minutes_per_day(self) -> int:
        """Working minutes in a full working day."""
        total = sum((e - s).total_seconds() for s, e in self.periods(date(2026, 1, 5)))
        return int(total // 60)


DEFAULT_HOURS = WorkingHours()
_MAX_DAYS = 3660  # refuse to search further than ten years (a calendar with no working days)


class WorkCalendar:
    """Working-day answers for one session; loads each year's CalendarDay rows once."""

    def __init__(self, session: Session, hours: WorkingHours = DEFAULT_HOURS) -> None:
        self.session = session
        self.hours = hours
        self._years: dict[int, dict[date, bool]] = {}

    def _overrides(self, year: int) -> dict[date, bool]:
        if year not in self._years:
            rows = self.session.execute(
                select(CalendarDay.day, CalendarDay.is_workday).where(
                    CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)
                )
            )
            self._years[year] = {d: w for d, w in rows}
        return self._years[year]

    def is_workday(self, day: date) -> bool:
        """True when `day` is worked: the CalendarDay row if there is one, else Monday–Friday."""
        override = self._overrides(day.year).get(day)
        if override is not None:
            return override
        return day.weekday() < 5

    def is_working_time(self, at: datetime) -> bool:
        """True when `at` (aware) is inside a working period of a working day (not nights, weekends, holidays)."""
        local = at.astimezone(self.hours.tz)
        if not self.is_workday(local.date()):
            return False
        return any(p_start <= local < p_end for p_start, p_end in self.hours.periods(local.date()))

    def add_working_minutes(self, start: datetime, minutes: float) -> datetime:
        """The moment `minutes` working minutes after `start` (aware); returned in UTC."""
        if start.tzinfo is None:
            raise ValueError("add_working_minutes needs an aware datetime")
        remaining = timedelta(minutes=minutes)
        t = start.astimezone(self.hours.tz)
        day = t.date()
        for _ in range(_MAX_DAYS):
            if self.is_workday(day):
                for p_start, p_end in self.hours.periods(day):
                    if t >= p_end:
                        continue
                    t = max(t, p_start)
                    available = p_end - t
                    if remaining <= available:
                        return (t + remaining).astimezone(start.tzinfo).astimezone(ZoneInfo("UTC"))
                    remaining -= available
                    t = p_end
            day += timedelta(days=1)
            t = datetime.combine(day, time(0, 0), self.hours.tz)
        raise ValueError("no working time found within ten years; check the calendar data")

    def working_minutes_between(self, a: datetime, b: datetime) -> float:
        """Working minutes from `a` to `b` (negative when b is before a)."""
        if b < a:
            return -self.working_minutes_between(b, a)
        a_local, b_local = a.astimezone(self.hours.tz), b.astimezone(self.hours.tz)
        total = timedelta()
        day = a_local.date()
        while day <= b_local.date():
            if self.is_workday(day):
                for p_start, p_end in self.hours.periods(day):
                    lo, hi = max(p_start, a_local), min(p_end, b_local)
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 60


def add_working_minutes(session: Session, start: datetime, minutes: float) -> datetime:
    """`start` plus `minutes` of working time on the default working hours (UTC result)."""
    return WorkCalendar(session).add_working_minutes(start, minutes)


def is_workday(session: Session, day: date) -> bool:
    """True when `day` is a working day on the stored calendar."""
    return WorkCalendar(session).is_workday(day)


def set_day(session: Session, day: date, *, is_workday: bool, name: str = "") -> CalendarDay:
    """Create or update one calendar exception (a holiday or a 调休 working day) and flush."""
    row = session.scalar(select(CalendarDay).where(CalendarDay.day == day))
    if row is None:
        row = CalendarDay(day=day, is_workday=is_workday, name=name)
        session.add(row)
    else:
        row.is_workday, row.name = is_workday, name
    session.flush()
    return row


def seed_calendar(session: Session, days: tuple[tuple[date, bool, str], ...] = HOLIDAYS_2026) -> int:
    """Store the official holiday/调休 days (idempotent); returns how many rows were added or changed."""
    existing = {
        r.day: r for r in session.scalars(select(CalendarDay).where(CalendarDay.day.in_([d for d, _, _ in days])))
    }
    changed = 0
    for day, workday, name in days:
        row = existing.get(day)
        if row is None:
            session.add(CalendarDay(day=day, is_workday=workday, name=name))
            changed += 1
        elif row.is_workday != workday or row.name != name:
            row.is_workday, row.name = workday, name
            changed += 1
    session.flush()
    return changed
