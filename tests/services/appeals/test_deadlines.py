"""SLA policies as data, deadlines in working time from dispatch, and the reminder ladder rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.clock import LOCAL_TZ
from models.appeal import Appeal
from models.deadlines import Reminder, SlaPolicy
from services.appeals import deadlines
from services.appeals.calendar import seed_calendar
from services.appeals.records import create_appeal


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


def make_appeal(session: Session, category: str | None = "sanitation", urgent: bool = False) -> Appeal:
    appeal = create_appeal(session, resident=None, text="楼道堆满杂物", channel="staff")
    appeal.category, appeal.urgent = category, urgent
    session.flush()
    return appeal


def test_policy_lookup_order(session: Session) -> None:
    # Empty table: the built-in defaults still give sensible answers.
    assert deadlines.policy_for(session, "sanitation", False) == deadlines.SlaTerms("general", 120, 3 * 480)
    assert deadlines.policy_for(session, "municipal", False).resolve_minutes == 15 * 480
    assert deadlines.policy_for(session, None, True) == deadlines.SlaTerms("urgent", 30, 120)
    assert deadlines.seed_sla_policies(session) == len(deadlines.DEFAULT_POLICIES)
    assert deadlines.seed_sla_policies(session) == 0
    # Data, not code: a category row overrides the default row, and editing a row changes the deadline.
    session.add(SlaPolicy(category="noise", urgent=False, tier="general", accept_minutes=60, resolve_minutes=480))
    session.flush()
    assert deadlines.policy_for(session, "noise", False) == deadlines.SlaTerms("general", 60, 480)
    assert deadlines.policy_for(session, "noise", True).tier == "urgent"  # no urgent noise row → default urgent
    default = session.scalar(select(SlaPolicy).where(SlaPolicy.category.is_(None), SlaPolicy.urgent.is_(False)))
    default.resolve_minutes = 5 * 480
    session.flush()
    assert deadlines.policy_for(session, "sanitation", False).resolve_minutes == 5 * 480


def test_ladder_times_from_dispatch(session: Session, org: Any) -> None:
    appeal = make_appeal(session)
    due = deadlines.compute_deadlines(session, appeal, local(2026, 11, 20, 10))  # Friday 10:00
    ladder = dict(due.ladder)
    assert due.accept_due_at == local(2026, 11, 20, 12)  # 2 working hours
    assert ladder["remind_50"] == local(2026, 11, 23, 14)  # 12 working hours: Fri 7 h + Mon 5 h
    assert ladder["remind_80"] == local(2026, 11, 24, 13, 12)  # 19.2 h
    assert due.due_at == ladder["overdue"] == local(2026, 11, 25, 10)  # 3 working days
    assert ladder["secretary"] == local(2026, 11, 26, 14)  # 150%


def test_complex_deadline_crosses_national_day(session: Session, org: Any) -> None:
    seed_calendar(session)
    appeal = make_appeal(session, category="municipal")
    due = deadlines.compute_deadlines(session, appeal, local(2026, 9, 18, 10))  # Friday before 调休 Sunday 9-20
    # 15 working days: Sep 18 (7 h), Sep 20 (a Sunday 调休) to 24, Sep 28–30 (25–27 中秋),
    # Oct 8–10 (1–7 国庆; Saturday the 10th is worked), 12–14, then 1 h on the 15th.
    assert due.terms.tier == "complex"
    assert due.due_at == local(2026, 10, 15, 10)


def test_schedule_rounds_claim_and_cancel(session: Session, org: Any) -> None:
    appeal = make_appeal(session)
    start = local(2026, 11, 20, 10)
    due = deadlines.compute_deadlines(session, appeal, start)
    assert deadlines.schedule_ladder(session, appeal, due) == 1
    rows = session.scalars(select(Reminder).where(Reminder.appeal_id == appeal.id)).all()
    assert sorted(r.level for r in rows) == sorted(["accept_overdue", *deadlines.RESOLVE_LEVELS])

    # Nothing due yet at dispatch; the accept step is due at 12:00.
    assert deadlines.due_reminders(session, start) == []
    noon = local(2026, 11, 20, 12)
    assert [r.level for r in deadlines.due_reminders(session, noon)] == ["accept_overdue"]
    assert deadlines.claim(session, appeal.id, "remind_50", noon) is None  # not due yet
    claimed = deadlines.claim(session, appeal.id, "accept_overdue", noon)
    assert claimed is not None
    assert claimed.sent_at is not None
    assert deadlines.claim(session, appeal.id, "accept_overdue", noon) is None  # exactly once

    # A second dispatch starts round 2 and cancels round 1's pending steps.
    assert deadlines.schedule_ladder(session, appeal, due) == 2
    pending_r1 = session.scalars(
        select(Reminder).where(Reminder.appeal_id == appeal.id, Reminder.round == 1, Reminder.sent_at.is_(None))
    ).all()
    assert pending_r1
    assert all(r.cancel_reason == "redispatched" for r in pending_r1)
    assert deadlines.cancel_reminders(session, appeal, levels=("remind_50",), reason="test") == 1
    later = start + timedelta(days=30)
    assert {r.level for r in deadlines.due_reminders(session, later)} == {
        "accept_overdue",
        "remind_80",
        "overdue",
        "secretary",
    }
    assert deadlines.job_id(appeal.id, 2, "overdue") == f"appeal-step-{appeal.id}-2-overdue"


def test_working_minutes_left(session: Session, org: Any) -> None:
    appeal = make_appeal(session)
    assert deadlines.working_minutes_left(session, appeal) is None
    appeal.due_at = local(2026, 11, 23, 10)
    assert deadlines.working_minutes_left(session, appeal, local(2026, 11, 20, 16)) == 120
    assert deadlines.working_minutes_left(session, appeal, local(2026, 11, 23, 11)) == -60


def test_urgent_deadlines_are_wall_clock_at_night_and_on_holidays(session: Session, org: Any) -> None:
    seed_calendar(session)
    for start in (local(2026, 12, 6, 4, 45), local(2026, 10, 5, 4, 45)):  # a Sunday; a 国庆 Monday
        urgent = deadlines.compute_deadlines(session, make_appeal(session, "fire_safety", urgent=True), start)
        assert urgent.wall_clock
        assert urgent.accept_due_at == start + timedelta(minutes=30)  # 05:15, not 09:30
        assert urgent.due_at == start + timedelta(hours=2)  # 06:45, not 11:00
        ladder = dict(urgent.ladder)
        assert ladder["remind_50"] == start + timedelta(minutes=60)
        assert ladder["remind_80"] == start + timedelta(minutes=96)
        assert ladder["secretary"] == start + timedelta(minutes=180)  # 07:45: still night
    # An ordinary appeal filed at the same moment keeps working time: Monday 09:00 + 2 working hours.
    general = deadlines.compute_deadlines(session, make_appeal(session), local(2026, 12, 6, 4, 45))
    assert not general.wall_clock
    assert general.accept_due_at == local(2026, 12, 7, 11)
    assert general.due_at == local(2026, 12, 9, 17)  # 3 working days from Monday 09:00


def test_urgent_minutes_left_count_the_night(session: Session, org: Any) -> None:
    appeal = make_appeal(session, "fire_safety", urgent=True)
    appeal.due_at = local(2026, 12, 6, 6, 45)
    assert deadlines.working_minutes_left(session, appeal, local(2026, 12, 6, 4, 45)) == 120
    assert deadlines.working_minutes_left(session, appeal, local(2026, 12, 6, 7, 0)) == -15


def test_triage_deadline_and_ladder(session: Session, org: Any) -> None:
    seed_calendar(session)
    friday = local(2026, 11, 20, 16)
    triage = deadlines.compute_triage(session, make_appeal(session, "other"), friday)
    assert not triage.wall_clock
    assert triage.due_at == local(2026, 11, 23, 10)  # 1 working hour on Friday, 1 on Monday
    assert dict(triage.ladder)["triage_secretary"] == local(2026, 11, 23, 12)
    night = local(2026, 12, 6, 4, 45)
    urgent = make_appeal(session, "other", urgent=True)
    triage = deadlines.compute_triage(session, urgent, night)
    assert triage.wall_clock
    assert triage.due_at == night + timedelta(minutes=15)
    assert deadlines.schedule_triage(session, urgent, triage) == 1
    due = deadlines.due_reminders(session, night + timedelta(minutes=15))
    assert [(r.appeal_id, r.level) for r in due] == [(urgent.id, "triage_overdue")]
    # Dispatching starts the next round and cancels the triage steps still pending.
    dispatch = deadlines.compute_deadlines(session, urgent, night + timedelta(minutes=10))
    assert deadlines.schedule_ladder(session, urgent, dispatch) == 2
    assert {r.level for r in deadlines.due_reminders(session, night + timedelta(hours=1))} == {"accept_overdue"}
