"""Deadlines as data (SlaPolicy rows) and the reminder/escalation ladder stored as SQL rows.

At dispatch the appeal gets `accept_due_at` and `due_at`, and one `Reminder` row per ladder step. An ordinary
appeal's minutes are working minutes (office hours on the holiday calendar); an urgent appeal's are wall-clock
minutes, day and night, weekends and holidays included: a gas smell at 04:45 must be signed for by 05:15. An
appeal the router cannot place gets a triage deadline and its own two-step ladder until someone dispatches it.
SQL is the source of truth: `jobs.appeals.tick` hands due rows to RQ under stable job ids, and each step is
claimed exactly once with a conditional UPDATE, so a lost or repeated job never double-notifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from infra import clock
from models.appeal import Appeal
from models.deadlines import Reminder, SlaPolicy
from services.appeals.calendar import WorkCalendar

WORKDAY_MINUTES = 8 * 60  # 09:00–17:00


@dataclass(frozen=True)
class SlaTerms:
    """The minutes a unit has to accept and to resolve (working minutes; wall-clock for urgent), and the tier."""

    tier: str
    accept_minutes: int
    resolve_minutes: int


# (category or None for "any", urgent, tier, accept minutes, resolve minutes). Seeded into sla_policy;
# also the fallback when the table has no matching row, so a fresh database still computes sensible deadlines.
DEFAULT_POLICIES: tuple[tuple[str | None, bool, str, int, int], ...] = (
    (None, True, "urgent", 30, 2 * 60),  # urgent: accept within 30 minutes, resolve within 2 h, day and night
    (None, False, "general", 2 * 60, 3 * WORKDAY_MINUTES),  # general: 3 working days
    ("municipal", False, "complex", 2 * 60, 15 * WORKDAY_MINUTES),  # road/pipe works need planning: 15 days
    ("social_welfare", False, "complex", 2 * 60, 15 * WORKDAY_MINUTES),  # benefits need an assessment
)

# Ladder steps on the resolution deadline: (level, fraction of the SLA in working time).
RESOLVE_LADDER: tuple[tuple[str, float], ...] = (
    ("remind_50", 0.5),  # remind the handler
    ("remind_80", 0.8),  # remind the handler again
    ("overdue", 1.0),  # mark overdue, notify the grid leader (escalation level 1)
    ("secretary", 1.5),  # still open: notify the community secretary (escalation level 2)
)
ACCEPT_LEVEL = "accept_overdue"
AUTO_CLOSE_LEVEL = "auto_close"
RESOLVE_LEVELS = tuple(level for level, _ in RESOLVE_LADDER)

# Triage (分拣): minutes to dispatch an appeal the router could not place, by urgency: two working hours for an
# ordinary appeal, 15 wall-clock minutes for an urgent one (e.g. an emergency whose place is unknown).
TRIAGE_MINUTES = {False: 2 * 60, True: 15}
# Ladder steps on the triage deadline: (level, fraction): tell the triage staff again, then the secretary.
TRIAGE_LADDER: tuple[tuple[str, float], ...] = (
    ("triage_overdue", 1.0),
    ("triage_secretary", 2.0),
)
TRIAGE_LEVELS = tuple(level for level, _ in TRIAGE_LADDER)
ALL_LEVELS = (*RESOLVE_LEVELS, ACCEPT_LEVEL, AUTO_CLOSE_LEVEL, *TRIAGE_LEVELS)


def seed_sla_policies(session: Session) -> int:
    """Insert the default SLA policies that are missing (idempotent); returns how many were added."""
    existing = {(p.category, p.urgent) for p in session.scalars(select(SlaPolicy))}
    added = 0
    for category, urgent, tier, accept, resolve in DEFAULT_POLICIES:
        if (category, urgent) not in existing:
            session.add(
                SlaPolicy(
                    category=category,
                    urgent=urgent,
                    tier=tier,
                    accept_minutes=accept,
                    resolve_minutes=resolve,
                )
            )
            added += 1
    session.flush()
    return added


def policy_for(session: Session, category: str | None, urgent: bool) -> SlaTerms:
    """The SLA for a category and urgency: its own row, else the default row, else the built-in default."""
    rows = session.scalars(
        select(SlaPolicy).where(
            SlaPolicy.urgent == urgent,
            (SlaPolicy.category == category) | (SlaPolicy.category.is_(None)),
        )
    ).all()
    best = next((r for r in rows if r.category == category and category is not None), None) or next(
        (r for r in rows if r.category is None), None
    )
    if best is not None:
        return SlaTerms(best.tier, best.accept_minutes, best.resolve_minutes)
    for cat, urg, tier, accept, resolve in DEFAULT_POLICIES:
        if cat == category and urg == urgent and category is not None:
            return SlaTerms(tier, accept, resolve)
    _, _, tier, accept, resolve = next(p for p in DEFAULT_POLICIES if p[0] is None and p[1] == urgent)
    return SlaTerms(tier, accept, resolve)


@dataclass(frozen=True)
class Deadlines:
    """An appeal's deadlines from a dispatch moment; `wall_clock` when they run day and night."""

    terms: SlaTerms
    start: datetime
    accept_due_at: datetime
    due_at: datetime
    ladder: tuple[tuple[str, datetime], ...]
    wall_clock: bool = False


class _Clock:
    """Adds minutes to a moment: working minutes on the calendar, or wall-clock minutes for urgent appeals."""

    def __init__(self, session: Session, wall_clock: bool) -> None:
        self.wall_clock = wall_clock
        self.calendar = None if wall_clock else WorkCalendar(session)

    def add(self, start: datetime, minutes: float) -> datetime:
        if self.calendar is None:
            return (start + timedelta(minutes=minutes)).astimezone(UTC)
        return self.calendar.add_working_minutes(start, minutes)


def compute_deadlines(session: Session, appeal: Appeal, start: datetime) -> Deadlines:
    """Acceptance and resolution deadlines and the ladder's due times from `start` (urgent: wall clock)."""
    urgent = bool(appeal.urgent)
    terms = policy_for(session, appeal.category, urgent)
    clock_ = _Clock(session, wall_clock=urgent)
    ladder = tuple((level, clock_.add(start, terms.resolve_minutes * f)) for level, f in RESOLVE_LADDER)
    return Deadlines(
        terms=terms,
        start=start,
        accept_due_at=clock_.add(start, terms.accept_minutes),
        due_at=dict(ladder)["overdue"],
        ladder=ladder,
        wall_clock=urgent,
    )


@dataclass(frozen=True)
class TriageDeadline:
    """When an appeal waiting for triage must be dispatched, and its ladder's due times."""

    start: datetime
    due_at: datetime
    ladder: tuple[tuple[str, datetime], ...]
    wall_clock: bool


def compute_triage(session: Session, appeal: Appeal, start: datetime) -> TriageDeadline:
    """The triage deadline from `start`: working minutes, or wall-clock minutes for an urgent appeal."""
    urgent = bool(appeal.urgent)
    minutes = TRIAGE_MINUTES[urgent]
    clock_ = _Clock(session, wall_clock=urgent)
    ladder = tuple((level, clock_.add(start, minutes * f)) for level, f in TRIAGE_LADDER)
    return TriageDeadline(start=start, due_at=ladder[0][1], ladder=ladder, wall_clock=urgent)


def schedule_triage(session: Session, appeal: Appeal, triage: TriageDeadline) -> int:
    """Cancel pending steps and store the triage ladder as a new round; returns the round number."""
    cancel_reminders(session, appeal, reason="triage")
    rnd = current_round(session, appeal.id) + 1
    for level, due in triage.ladder:
        session.add(Reminder(appeal_id=appeal.id, round=rnd, level=level, due_at=due))
    session.flush()
    return rnd


def current_round(session: Session, appeal_id: int) -> int:
    """The appeal's latest ladder round (0 before its first dispatch)."""
    return session.scalar(select(func.coalesce(func.max(Reminder.round), 0)).where(Reminder.appeal_id == appeal_id))


def schedule_ladder(session: Session, appeal: Appeal, deadlines: Deadlines) -> int:
    """Cancel earlier rounds' pending steps and store this dispatch's steps; returns the new round number."""
    cancel_reminders(session, appeal, reason="redispatched")
    rnd = current_round(session, appeal.id) + 1
    session.add(Reminder(appeal_id=appeal.id, round=rnd, level=ACCEPT_LEVEL, due_at=deadlines.accept_due_at))
    for level, due in deadlines.ladder:
        session.add(Reminder(appeal_id=appeal.id, round=rnd, level=level, due_at=due))
    session.flush()
    return rnd


def schedule_auto_close(session: Session, appeal: Appeal, at: datetime) -> Reminder:
    """Store the auto-close step for a resolved appeal in the current round (replacing a pending one)."""
    cancel_reminders(session, appeal, levels=(AUTO_CLOSE_LEVEL,), reason="rescheduled")
    rnd = max(current_round(session, appeal.id), 1)
    row = session.scalar(
        select(Reminder).where(
            Reminder.appeal_id == appeal.id, Reminder.round == rnd, Reminder.level == AUTO_CLOSE_LEVEL
        )
    )
    if row is None:
        row = Reminder(appeal_id=appeal.id, round=rnd, level=AUTO_CLOSE_LEVEL, due_at=at)
        session.add(row)
    else:  # resolved again in the same round (e.g. after staff reopened it): re-arm the row
        row.due_at, row.sent_at, row.cancelled_at, row.cancel_reason, row.enqueued_at = (
            at,
            None,
            None,
            None,
            None,
        )
    session.flush()
    return row


def cancel_reminders(session: Session, appeal: Appeal, *, levels: tuple[str, ...] | None = None, reason: str) -> int:
    """Cancel the appeal's pending steps (all, or only `levels`); returns how many were cancelled."""
    stmt = (
        update(Reminder)
        .where(Reminder.appeal_id == appeal.id, Reminder.sent_at.is_(None), Reminder.cancelled_at.is_(None))
        .values(cancelled_at=clock.now(), cancel_reason=reason)
    )
    if levels is not None:
        stmt = stmt.where(Reminder.level.in_(levels))
    return session.execute(stmt).rowcount or 0


def due_reminders(session: Session, now: datetime, limit: int = 500) -> list[Reminder]:
    """Pending steps whose time has come, oldest first."""
    stmt = (
        select(Reminder)
        .where(Reminder.sent_at.is_(None), Reminder.cancelled_at.is_(None), Reminder.due_at <= now)
        .order_by(Reminder.due_at, Reminder.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def claim(session: Session, appeal_id: int, level: str, now: datetime) -> Reminder | None:
    """Mark the appeal's current, due, pending step `level` as sent; None when there is none (already done).

    The conditional UPDATE is the idempotency guard: of two runs of the same job, exactly one gets the row.
    """
    rnd = current_round(session, appeal_id)
    row = session.scalar(
        select(Reminder).where(Reminder.appeal_id == appeal_id, Reminder.round == rnd, Reminder.level == level)
    )
    if row is None or row.due_at > now:
        return None
    result = session.execute(
        update(Reminder)
        .where(Reminder.id == row.id, Reminder.sent_at.is_(None), Reminder.cancelled_at.is_(None))
        .values(sent_at=now)
    )
    if (result.rowcount or 0) != 1:
        return None
    session.refresh(row)
    return row


def mark_cancelled(session: Session, reminder: Reminder, reason: str) -> None:
    """Record that a claimed step did nothing because the appeal had moved on."""
    reminder.sent_at = None
    reminder.cancelled_at = clock.now()
    reminder.cancel_reason = reason
    session.flush()


def job_id(appeal_id: int, rnd: int, level: str) -> str:
    """The stable RQ job id of one ladder step."""
    return f"appeal-step-{appeal_id}-{rnd}-{level}"  # RQ ids: letters, digits, _ and - only


def working_minutes_left(session: Session, appeal: Appeal, now: datetime | None = None) -> float | None:
    """Minutes until the appeal's due_at (negative when overdue), or None before dispatch: working minutes,
    or wall-clock minutes for an urgent appeal, whose clock never stops."""
    if appeal.due_at is None:
        return None
    now = now or clock.now()
    if appeal.urgent:
        return (appeal.due_at - now).total_seconds() / 60
    return WorkCalendar(session).working_minutes_between(now, appeal.due_at)
