"""The reminder/escalation ladder through real RQ: tick, stable-id jobs, one notification per step.

Also across lost queues, discarded workers and jobs run twice; steps are skipped once the appeal moved on.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.clock import LOCAL_TZ
from infra.web import get_db, get_redis
from jobs import appeals as appeal_jobs
from jobs.outbox import commit_and_enqueue
from jobs.queue import QUEUES, get_queue
from models.appeal import Appeal, AppealEvent
from models.deadlines import Reminder
from models.resident import Resident
from services.appeals import workflow
from services.appeals.calendar import seed_calendar
from services.appeals.deadlines import seed_sla_policies
from services.appeals.records import create_appeal
from services.appeals.workflow import Actor


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Configure the staff task template so staff notifications reach the sandbox."""
    return {
        **app_config,
        "WECHAT_TEMPLATE_STAFF_TASK": "tpl-staff-task",
        "WECHAT_TEMPLATE_NOTICE": "tpl-notice",
    }


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


def staff(org: Any, key: str) -> Actor:
    member = org.staff[key]
    return Actor("staff", member.id, member.role)


def sends(sandbox: Any, org: Any, key: str, title: str) -> int:
    openid = org.staff[key].openid
    return sum(title in json.dumps(s["body"], ensure_ascii=False) for s in sandbox.sent(openid, "template"))


def tick(app: Flask) -> int:
    with app.app_context():
        return appeal_jobs.tick()


def commit(app: Flask, session: Session) -> None:
    with app.app_context():
        commit_and_enqueue(session)


def count(session: Session, appeal: Appeal, action: str) -> int:
    n = session.scalar(
        select(func.count())
        .select_from(AppealEvent)
        .where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == action)
    )
    session.commit()  # release SQLite's write lock before a job runs
    return n or 0


def reload(session: Session, appeal: Appeal) -> Appeal:
    session.refresh(appeal)
    session.commit()
    return appeal


@pytest.fixture
def dispatched(app: Flask, session: Session, org: Any, clock: Any) -> Appeal:
    """An appeal in grid G1 dispatched at the frozen Friday 10:00 (general: due Wednesday 10:00)."""
    seed_calendar(session)
    seed_sla_policies(session)
    b = org.buildings["E-LZ-1"]
    alice = Resident(openid="o-res-alice", subscribed=True, community_id=org.community.id, grid_id=b.grid_id,
                     building_id=b.id, last_inbound_at=clock.now())  # fmt: skip
    session.add(alice)
    session.flush()
    appeal = create_appeal(session, resident=alice, text="垃圾桶满了没人清运", channel="wechat")
    appeal.category = "sanitation"
    workflow.dispatch(session, appeal, actor=workflow.SYSTEM, handler_type="grid")
    commit(app, session)
    return appeal


def test_whole_ladder_once_per_step(
    app: Flask, session: Session, org: Any, clock: Any, dispatched: Appeal, run_jobs: Any, sandbox: Any
) -> None:
    appeal = dispatched
    run_jobs()  # the dispatch notifications
    assert tick(app) == 0  # nothing due at dispatch

    clock.freeze(local(2026, 11, 20, 12))  # acceptance deadline (2 working hours)
    assert tick(app) == 1
    assert tick(app) == 1  # still unsent: handed again under the same job id, not duplicated
    run_jobs()
    assert tick(app) == 0
    assert sends(sandbox, org, "g1_worker", "签收超时") == 1
    assert sends(sandbox, org, "g1_leader", "签收超时") == 1
    overdue_accept = session.scalar(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "overdue")
    )
    assert overdue_accept.payload["kind"] == "accept"
    session.commit()

    clock.freeze(local(2026, 11, 20, 12, 30))
    workflow.accept(session, appeal, actor=staff(org, "g1_worker"))
    commit(app, session)

    for moment, title in [
        (local(2026, 11, 23, 14), "已过办理时限一半"),  # 50%: Monday 14:00
        (local(2026, 11, 24, 13, 12), "即将超期"),  # 80%: Tuesday 13:12
    ]:
        clock.freeze(moment - timedelta(minutes=1))
        assert tick(app) == 0
        clock.freeze(moment)
        assert tick(app) == 1
        run_jobs()
        assert sends(sandbox, org, "g1_worker", title) == 1
    remind_levels = session.scalars(
        select(AppealEvent.payload).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "remind")
    ).all()
    assert [p["level"] for p in remind_levels] == [1, 2]
    session.commit()

    clock.freeze(local(2026, 11, 25, 10))  # 100%: overdue, grid leader
    assert tick(app) == 1
    run_jobs()
    reload(session, appeal)
    assert appeal.overdue is True
    assert appeal.escalation_level == 1
    assert sends(sandbox, org, "g1_leader", "已超期") == 1

    clock.freeze(local(2026, 11, 26, 14))  # 150%: the community secretary
    assert tick(app) == 1
    run_jobs()
    reload(session, appeal)
    assert appeal.escalation_level == 2
    assert sends(sandbox, org, "secretary", "书记督办") == 1
    escalations = session.scalars(
        select(AppealEvent.payload).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "escalate")
    ).all()
    assert [(p["level"], p["to_staff_id"]) for p in escalations] == [
        (1, org.staff["g1_leader"].id),
        (2, org.staff["secretary"].id),
    ]
    session.commit()
    assert tick(app) == 0
    # Running every step's job again (as RQ's at-least-once delivery may) changes nothing.
    with app.app_context():
        assert {appeal_jobs.send_reminder(appeal.id, lvl) for lvl in ("remind_50", "overdue", "secretary")} == {
            "not due/done"
        }
    assert count(session, appeal, "escalate") == 2
    assert count(session, appeal, "remind") == 2


def test_steps_are_skipped_once_the_appeal_moves_on(
    app: Flask, session: Session, org: Any, clock: Any, dispatched: Appeal, run_jobs: Any, sandbox: Any
) -> None:
    appeal = dispatched
    worker = staff(org, "g1_worker")
    clock.freeze(local(2026, 11, 23, 14))  # the 50% step (and the missed acceptance) are due
    assert tick(app) == 2  # handed to RQ …
    workflow.accept(session, appeal, actor=worker)  # … but the unit acts before the jobs run
    workflow.start(session, appeal, actor=worker)
    workflow.resolve(session, appeal, actor=worker, reply="已清运")
    commit(app, session)
    run_jobs()
    assert count(session, appeal, "remind") == 0
    assert count(session, appeal, "overdue") == 0
    assert sends(sandbox, org, "g1_worker", "办理提醒") == 0
    assert sends(sandbox, org, "g1_worker", "签收超时") == 0
    reasons = dict(
        session.execute(
            select(Reminder.level, Reminder.cancel_reason).where(Reminder.appeal_id == appeal.id, Reminder.round == 1)
        ).all()
    )
    session.commit()
    assert reasons["accept_overdue"] == "accepted"
    assert reasons["remind_50"] in (
        "resolved",
        "moved on (resolved)",
    )
    assert reasons["overdue"] == "resolved"
    assert reasons["secretary"] == "resolved"

    # Nobody rates: 72 h after the resolved notice the tick closes it as resolved, without a rating.
    clock.advance(timedelta(hours=71))
    assert tick(app) == 0
    clock.advance(timedelta(hours=1))
    assert tick(app) == 1
    run_jobs()
    reload(session, appeal)
    assert (appeal.status, appeal.closure_code, appeal.rating) == ("closed", "resolved", None)
    close_event = session.scalar(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "close")
    )
    session.commit()
    assert close_event.actor_type == "system"


def test_discarded_worker_and_lost_queue_still_notify_exactly_once(
    app: Flask,
    session: Session,
    org: Any,
    clock: Any,
    dispatched: Appeal,
    run_jobs: Any,
    sandbox: Any,
    redis_server: Any,
) -> None:
    appeal = dispatched
    run_jobs()
    clock.freeze(local(2026, 11, 25, 10))  # every step up to "overdue" is due
    assert tick(app) == 4

    # 1. The worker that would have run them is discarded before running anything.
    with app.app_context():
        abandoned = SimpleWorker([get_queue(q) for q in QUEUES], connection=get_redis())
    del abandoned

    # 2. Redis restarts without persistence: every queued job is gone. SQL still says the steps are unsent.
    redis_server.stop()
    redis_server.start()
    with app.app_context():
        assert sum(get_queue(q).count for q in QUEUES) == 0
    assert tick(app) == 4  # re-handed from the Reminder rows

    # 3. A fresh worker runs them; the overdue job also runs a second time (at-least-once delivery).
    run_jobs()
    with app.app_context():
        assert appeal_jobs.send_reminder(appeal.id, "overdue") == "not due/done"
        assert get_db().engine is not None
    assert tick(app) == 0
    run_jobs()
    assert sends(sandbox, org, "g1_leader", "已超期") == 1
    assert sends(sandbox, org, "g1_worker", "即将超期") == 1
    assert count(session, appeal, "escalate") == 1
    assert count(session, appeal, "remind") == 2


@pytest.mark.postgres
def test_ladder_on_postgresql(pg_app: Flask, clock: Any) -> None:
    from services.demo import seed_org

    with pg_app.app_context():
        session = get_db().session()
        org = seed_org(session)
        seed_calendar(session)
        appeal = create_appeal(session, resident=None, text="井盖松动", channel="staff")
        appeal.category, appeal.grid_id, appeal.community_id = (
            "municipal",
            org.grids["G2"].id,
            org.community.id,
        )
        workflow.dispatch(session, appeal, actor=staff(org, "g2_leader"), department_id=org.departments["municipal"].id)
        commit_and_enqueue(session)
        assert appeal.due_at == local(2026, 12, 11, 10)  # complex: 15 working days
        clock.freeze(local(2026, 12, 1, 14))  # 7.5 working days later
        assert appeal_jobs.tick() == 2  # acceptance and 50%
        assert appeal_jobs.send_reminder(appeal.id, "remind_50") == "sent"
        assert appeal_jobs.send_reminder(appeal.id, "remind_50") == "not due/done"
        session.refresh(appeal)
        assert session.scalar(select(func.count()).select_from(AppealEvent).where(AppealEvent.action == "remind")) == 1
        session.close()


# ---------------------------------------------------------------- the urgent clock at night, and triage


def template_data(sandbox: Any, org: Any, key: str, title: str) -> list[dict[str, str]]:
    """The keyword values of the template messages the sandbox received for a staff member, by title."""
    out = []
    for s in sandbox.sent(org.staff[key].openid, "template"):
        data = {k: v["value"] for k, v in s["body"]["data"].items()}
        if title in data.get("thing1", ""):
            out.append(data)
    return out


def _resident(session: Session, org: Any, openid: str) -> Resident:
    from infra import clock as project_clock

    b = org.buildings["E-LZ-1"]
    r = Resident(openid=openid, subscribed=True, community_id=org.community.id, grid_id=b.grid_id,
                 building_id=b.id, last_inbound_at=project_clock.now())  # fmt: skip
    session.add(r)
    session.flush()
    return r


@pytest.mark.parametrize("start", [local(2026, 12, 6, 4, 45), local(2026, 10, 5, 4, 45)], ids=["sunday", "holiday"])
def test_gas_smell_at_night_runs_on_the_wall_clock_to_the_staff_on_duty(
    app: Flask, session: Session, org: Any, clock: Any, run_jobs: Any, sandbox: Any, start: datetime
) -> None:
    from services.appeals.duty import plan_rotation
    from services.appeals.intake import handle_text
    from services.appeals.routing import seed_routing

    seed_calendar(session)
    seed_sla_policies(session)
    seed_routing(session)
    on_duty = org.staff["g2_leader"]  # on the night shift, not the appeal's grid (G1) nor its unit
    plan_rotation(session, org.community.id, start.date() - timedelta(days=1), 2, night_staff=[on_duty.id])
    clock.freeze(start)
    result = handle_text(session, _resident(session, org, "o-res-gas"), "3幢楼道里燃气味很重，好像漏气了")
    appeal = result.appeal
    assert appeal is not None
    assert appeal.urgent
    assert appeal.status == "dispatched"
    assert appeal.department_id == org.departments["fire"].id
    # Wall-clock minutes: sign in by 05:15, done by 06:45 — not 09:30 and 11:00 in working time.
    assert appeal.accept_due_at == start + timedelta(minutes=30)
    assert appeal.due_at == start + timedelta(hours=2)
    dispatch_event = session.scalar(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "dispatch")
    )
    assert dispatch_event.payload["wall_clock"] is True
    assert on_duty.id in dispatch_event.payload["notified_staff_ids"]
    commit(app, session)
    run_jobs()

    # The dispatch reached the fire station and the person on duty, with the full sign-in deadline.
    day = f"{start.year}年{start.month:02d}月{start.day:02d}日"
    for key in ("dept_fire", "g2_leader"):
        [data] = template_data(sandbox, org, key, "紧急派单")
        assert data["time4"] == f"{day} 05:15"
        assert data["thing5"] == f"办结时限{start.month:02d}月{start.day:02d}日 06:45"
    assert template_data(sandbox, org, "g1_leader", "紧急诉求")  # the grid leader is pushed too

    # Every step of the ladder is due at night and goes to the staff on duty.
    steps = [
        (start + timedelta(minutes=30), "签收超时", ("dept_fire", "g1_leader", "g2_leader")),
        (start + timedelta(minutes=60), "已过办理时限一半", ("dept_fire", "g2_leader")),
        (start + timedelta(minutes=96), "即将超期", ("dept_fire", "g2_leader")),
        (start + timedelta(hours=2), "诉求已超期", ("dept_fire", "g1_leader", "g2_leader")),
        (start + timedelta(hours=3), "严重超期", ("secretary", "g2_leader")),
    ]
    for moment, title, told in steps:
        assert moment.astimezone(LOCAL_TZ).hour < 8  # before any office opens
        clock.freeze(moment - timedelta(minutes=1))
        assert tick(app) == 0
        clock.freeze(moment)
        assert tick(app) >= 1
        run_jobs()
        for key in told:
            assert sends(sandbox, org, key, title) == 1, (title, key)
    assert reload(session, appeal).escalation_level == 2


def test_daytime_urgent_ladder_leaves_the_night_shift_alone(
    app: Flask, session: Session, org: Any, clock: Any, run_jobs: Any, sandbox: Any
) -> None:
    from services.appeals.duty import add_shift

    seed_calendar(session)
    seed_sla_policies(session)
    # A shift that covers office hours on a working day: the office is staffed, the duty person is not told.
    add_shift(session, org.community.id, org.staff["g2_leader"].id, local(2026, 11, 20, 0), local(2026, 11, 21, 0))
    appeal = create_appeal(session, resident=None, text="燃气泄漏", channel="staff")
    appeal.category, appeal.urgent = "fire_safety", True
    workflow.dispatch(session, appeal, actor=workflow.SYSTEM, department_id=org.departments["fire"].id)
    assert appeal.accept_due_at == local(2026, 11, 20, 10, 30)  # Friday 10:00 + 30 minutes
    commit(app, session)
    clock.freeze(local(2026, 11, 20, 10, 30))
    tick(app)
    run_jobs()
    assert sends(sandbox, org, "dept_fire", "签收超时") == 1
    assert sends(sandbox, org, "g2_leader", "签收超时") == 0
    assert sends(sandbox, org, "g2_leader", "紧急派单") == 0


def test_unplaced_appeal_tells_triage_staff_at_once_and_has_a_ladder(
    app: Flask, session: Session, org: Any, clock: Any, run_jobs: Any, sandbox: Any
) -> None:
    from services.appeals.intake import handle_text
    from services.appeals.routing import seed_routing

    seed_calendar(session)
    seed_sla_policies(session)
    seed_routing(session)
    result = handle_text(session, _resident(session, org, "o-res-pit"), "你们能不能来看看门口那个坑")
    appeal = result.appeal
    assert appeal is not None
    assert appeal.status == "triaged"
    assert appeal.triage_due_at == local(2026, 11, 20, 12)  # Friday 10:00 + 2 working hours
    told = workflow.last_notified(session, appeal, "triage")
    assert set(told) == {org.staff["community_staff"].id, org.staff["g1_leader"].id}
    commit(app, session)
    run_jobs()
    [data] = template_data(sandbox, org, "community_staff", "待分拣")
    assert data["time4"] == "2026年11月20日 12:00"
    assert data["character_string2"] == appeal.number
    assert template_data(sandbox, org, "g1_leader", "待分拣")

    clock.freeze(local(2026, 11, 20, 12))
    assert tick(app) == 1
    run_jobs()
    assert sends(sandbox, org, "community_staff", "分拣超时") == 1
    assert sends(sandbox, org, "g1_leader", "分拣超时") == 1
    clock.freeze(local(2026, 11, 20, 14))
    assert tick(app) == 1
    run_jobs()
    assert sends(sandbox, org, "secretary", "分拣严重超时") == 1
    escalations = session.scalars(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "escalate")
    ).all()
    assert [(e.payload["kind"], e.payload["level"]) for e in escalations] == [("triage", 1), ("triage", 2)]
    session.commit()

    # A dispatch stops the triage clock: nothing of the triage ladder is left pending.
    clock.freeze(local(2026, 11, 20, 14, 30))
    workflow.dispatch(session, appeal, actor=staff(org, "g1_leader"), handler_type="grid")
    pending = session.scalars(
        select(Reminder).where(
            Reminder.appeal_id == appeal.id, Reminder.sent_at.is_(None), Reminder.cancelled_at.is_(None)
        )
    ).all()
    assert pending
    assert not {r.level for r in pending} & {"triage_overdue", "triage_secretary"}
    session.commit()


def test_unplaced_appeal_at_night_goes_to_the_staff_on_duty(
    app: Flask, session: Session, org: Any, clock: Any, run_jobs: Any, sandbox: Any
) -> None:
    from services.appeals.duty import add_shift
    from services.appeals.intake import handle_text
    from services.appeals.routing import seed_routing

    seed_calendar(session)
    seed_routing(session)
    night = org.staff["g3_leader"]
    add_shift(session, org.community.id, night.id, local(2026, 12, 5, 17, 30), local(2026, 12, 6, 8, 30))
    clock.freeze(local(2026, 12, 6, 4, 45))
    result = handle_text(session, _resident(session, org, "o-res-pit2"), "你们能不能来看看门口那个坑")
    assert result.appeal is not None
    assert result.appeal.status == "triaged"
    assert workflow.last_notified(session, result.appeal, "triage") == [night.id]
    commit(app, session)
    run_jobs()
    assert sends(sandbox, org, "g3_leader", "待分拣") == 1
    assert sends(sandbox, org, "community_staff", "待分拣") == 0
