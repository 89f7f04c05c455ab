"""The on-duty roster (值班表): who answers for a community outside working hours, and who triages.

A shift is an explicit [start, end) range for one staff member of one community, so a roster can be anything
a community office draws up: the weekly night rota, day shifts on weekends and holidays, or one person
covering the whole Spring Festival. `plan_rotation` writes the usual pattern (a night shift every evening,
a day shift on every non-working day, people taking turns). The roster decides who is told:

- an appeal the router cannot place (triage, 分拣) goes at once to the staff on shift, and in working hours
  also to the community's staff (the triage desk) and the grid leader of its grid when the place is known;
- every step of an urgent appeal's ladder outside working hours also goes to the staff on shift.

Nobody is left uninformed: with an empty roster the triage desk is told, and without one the secretary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.clock import LOCAL_TZ
from models.duty import DutyShift
from models.staff import Staff
from services.appeals.calendar import WorkCalendar
from services.errors import DomainError, NotFound

SHIFT_KINDS = ("day", "night", "custom")
# The usual rota: the night shift runs from the end of the office day to the next morning; on a non-working
# day a day shift covers the office hours.
DAY_START = time(8, 30)
NIGHT_START = time(17, 30)


def add_shift(
    session: Session,
    community_id: int,
    staff_id: int,
    starts_at: datetime,
    ends_at: datetime,
    *,
    shift: str = "custom",
    note: str = "",
) -> DutyShift:
    """Put a staff member on duty for a community from `starts_at` to `ends_at` (idempotent per start)."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise DomainError("shift times need a time zone", code="naive_time")
    if ends_at <= starts_at:
        raise DomainError("a shift must end after it starts", code="invalid_shift")
    if shift not in SHIFT_KINDS:
        raise DomainError(f"shift must be one of {', '.join(SHIFT_KINDS)}", code="invalid_shift")
    member = session.get(Staff, staff_id)
    if member is None or not member.active:
        raise NotFound(f"no active staff member {staff_id}")
    if member.community_id is not None and member.community_id != community_id:
        raise DomainError("the staff member belongs to another community", code="wrong_community")
    row = session.scalar(
        select(DutyShift).where(
            DutyShift.community_id == community_id, DutyShift.staff_id == staff_id, DutyShift.starts_at == starts_at
        )
    )
    if row is None:
        row = DutyShift(community_id=community_id, staff_id=staff_id, starts_at=starts_at)
        session.add(row)
    row.ends_at, row.shift, row.note = ends_at, shift, note[:100]
    session.flush()
    return row


def plan_rotation(
    session: Session,
    community_id: int,
    first_day: date,
    days: int,
    *,
    night_staff: Sequence[int],
    day_staff: Sequence[int] = (),
    day_start: time = DAY_START,
    night_start: time = NIGHT_START,
) -> list[DutyShift]:
    """Write `days` days of the rota from `first_day`: a night shift every day, a day shift on non-working
    days (weekends, holidays; 调休 working days are office days), each list taking turns day by day.

    Turns follow the calendar date, not the first day, so writing an overlapping range again (the demo does
    it on every start) puts the same people on the same days.
    """
    if not night_staff:
        raise DomainError("a rotation needs at least one night-shift staff member", code="no_staff")
    if days < 1 or days > 366:
        raise DomainError("a rotation covers 1 to 366 days", code="invalid_days")
    cal = WorkCalendar(session)
    day_staff = list(day_staff) or list(night_staff)
    rows: list[DutyShift] = []
    for i in range(days):
        day = first_day + timedelta(days=i)
        evening = datetime.combine(day, night_start, LOCAL_TZ)
        morning = datetime.combine(day, day_start, LOCAL_TZ)
        next_morning = datetime.combine(day + timedelta(days=1), day_start, LOCAL_TZ)
        turn = day.toordinal()
        if not cal.is_workday(day):
            rows.append(
                add_shift(session, community_id, day_staff[turn % len(day_staff)], morning, evening, shift="day")
            )
        night = night_staff[turn % len(night_staff)]
        rows.append(add_shift(session, community_id, night, evening, next_morning, shift="night"))
    return rows


def on_duty(session: Session, community_id: int | None, at: datetime) -> list[Staff]:
    """Active staff on shift at `at` for the community (any community's when the place is not known yet)."""
    stmt = (
        select(Staff)
        .join(DutyShift, DutyShift.staff_id == Staff.id)
        .where(Staff.active.is_(True), DutyShift.starts_at <= at, DutyShift.ends_at > at)
        .order_by(DutyShift.starts_at, Staff.id)
    )
    if community_id is not None:
        stmt = stmt.where(DutyShift.community_id == community_id)
    return _unique(session.scalars(stmt))


def roster(session: Session, community_id: int, start: datetime, end: datetime) -> list[DutyShift]:
    """The community's shifts overlapping [start, end), in order (the 值班表 view)."""
    stmt = (
        select(DutyShift)
        .where(DutyShift.community_id == community_id, DutyShift.starts_at < end, DutyShift.ends_at > start)
        .order_by(DutyShift.starts_at, DutyShift.staff_id)
    )
    return list(session.scalars(stmt))


def _community_role(session: Session, community_id: int | None, role: str) -> list[Staff]:
    stmt = select(Staff).where(Staff.active.is_(True), Staff.role == role).order_by(Staff.id)
    if community_id is not None:
        stmt = stmt.where(Staff.community_id == community_id)
    return list(session.scalars(stmt))


def triage_staff(session: Session, community_id: int | None, grid_id: int | None, at: datetime) -> list[Staff]:
    """Who is told of an appeal waiting for triage at `at`: the staff on shift, plus in working hours the
    triage desk (community staff) and the grid leader; never nobody (the desk, else the secretary)."""
    people = on_duty(session, community_id, at)
    if WorkCalendar(session).is_working_time(at):
        people += _community_role(session, community_id, "community_staff")
        if grid_id is not None:
            stmt = select(Staff).where(Staff.active.is_(True), Staff.grid_id == grid_id, Staff.role == "grid_leader")
            people += list(session.scalars(stmt.order_by(Staff.id)))
    people = _unique(people)
    if not people:
        people = _community_role(session, community_id, "community_staff") or _community_role(
            session, community_id, "community_secretary"
        )
    return people


def night_duty(session: Session, community_id: int | None, at: datetime) -> list[Staff]:
    """The staff on shift when `at` is outside working hours (nights, weekends, holidays); empty in office hours."""
    if WorkCalendar(session).is_working_time(at):
        return []
    return on_duty(session, community_id, at)


def _unique(people: Iterable[Staff]) -> list[Staff]:
    seen: set[int] = set()
    out: list[Staff] = []
    for member in people:
        if member.id not in seen:
            seen.add(member.id)
            out.append(member)
    return out
