"""The appeal state machine: whole appeals through dispatch → accept → start → resolve → rate, returns and
arbitration, closure codes, role refusals, staff scoping and the resident's timeline."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.clock import LOCAL_TZ
from jobs.outbox import commit_and_enqueue
from models.appeal import Appeal, AppealEvent, AppealSupporter
from models.deadlines import Reminder
from models.resident import Resident
from services.appeals import evaluation, workflow
from services.appeals.calendar import seed_calendar
from services.appeals.deadlines import seed_sla_policies
from services.appeals.records import create_appeal
from services.appeals.workflow import Actor
from services.errors import DomainError, Forbidden, InvalidTransition


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Configure the staff task and notice templates so notifications reach the sandbox."""
    return {
        **app_config,
        "WECHAT_TEMPLATE_STAFF_TASK": "tpl-staff-task",
        "WECHAT_TEMPLATE_NOTICE": "tpl-notice",
    }


@pytest.fixture(autouse=True)
def app_context(app: Any) -> Any:
    """Commit-and-enqueue needs the app (its Redis) like a request or a job would."""
    with app.app_context():
        yield


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


def staff(org: Any, key: str) -> Actor:
    member = org.staff[key]
    return Actor("staff", member.id, member.role)


def resident(session: Session, org: Any, name: str = "alice", building: str = "E-LZ-1") -> Resident:
    b = org.buildings[building]
    person = Resident(
        openid=f"o-res-{name}",
        name=name,
        subscribed=True,
        community_id=org.community.id,
        grid_id=b.grid_id,
        building_id=b.id,
        last_inbound_at=datetime.now(tz=LOCAL_TZ),  # the customer-service window is open
    )
    session.add(person)
    session.flush()
    return person


def new_appeal(session: Session, org: Any, who: Resident, category: str = "sanitation", **kw: Any) -> Appeal:
    appeal = create_appeal(session, resident=who, text=kw.pop("text", "3幢楼道堆满杂物，影响通行"), channel="wechat")
    appeal.category = category
    for k, v in kw.items():
        setattr(appeal, k, v)
    session.flush()
    return appeal


def actions(session: Session, appeal: Appeal) -> list[str]:
    return list(
        session.scalars(select(AppealEvent.action).where(AppealEvent.appeal_id == appeal.id).order_by(AppealEvent.id))
    )


def staff_sends(sandbox: Any, org: Any, key: str, title: str) -> int:
    openid = org.staff[key].openid
    return sum(title in json.dumps(s["body"], ensure_ascii=False) for s in sandbox.sent(openid, "template"))


def resident_texts(sandbox: Any, who: Resident) -> list[str]:
    return [s["body"]["text"]["content"] for s in sandbox.sent(who.openid, "custom")]


@pytest.fixture
def world(session: Session, org: Any, clock: Any) -> dict[str, Any]:
    seed_calendar(session)
    seed_sla_policies(session)
    alice = resident(session, org)
    session.commit()
    return {"alice": alice}


def test_whole_loop_grid_appeal(session: Session, org: Any, world: dict, run_jobs: Any, sandbox: Any) -> None:
    alice = world["alice"]
    appeal = new_appeal(session, org, alice)
    workflow.dispatch(session, appeal, actor=staff(org, "g1_leader"), handler_type="grid", note="网格处理")
    commit_and_enqueue(session)
    assert appeal.status == "dispatched"
    assert appeal.dispatched_at == local(2026, 11, 20, 10)  # the clock starts at dispatch
    assert appeal.accept_due_at == local(2026, 11, 20, 12)
    assert appeal.due_at == local(2026, 11, 25, 10)  # 3 working days, weekend skipped
    dispatch_event = session.scalar(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "dispatch")
    )
    assert dispatch_event.payload["handler_type"] == "grid"
    assert dispatch_event.payload["grid_id"] == org.grids["G1"].id
    assert dispatch_event.payload["community_id"] == org.community.id
    assert dispatch_event.payload["due_at"] == "2026-11-25T02:00:00+00:00"
    assert session.scalars(select(Reminder.level).where(Reminder.appeal_id == appeal.id)).all()
    session.commit()  # end the read transaction (SQLite: BEGIN IMMEDIATE holds the write lock)

    run_jobs()
    assert staff_sends(sandbox, org, "g1_worker", "新派单") == 1
    assert any(appeal.number in t and "第一网格" in t for t in resident_texts(sandbox, alice))

    workflow.accept(session, appeal, actor=staff(org, "g1_worker"))
    workflow.start(session, appeal, actor=staff(org, "g1_worker"))
    workflow.add_note(session, appeal, actor=staff(org, "g1_worker"), text="联系物业一起清理，住户电话13812345678")
    workflow.resolve(session, appeal, actor=staff(org, "g1_worker"), reply="杂物已清理完毕")
    commit_and_enqueue(session)
    assert appeal.status == "resolved"
    assert appeal.assignee_staff_id == org.staff["g1_worker"].id
    session.commit()
    run_jobs()
    texts = resident_texts(sandbox, alice)
    assert any("签收" in t for t in texts)
    assert any("杂物已清理完毕" in t and "1 满意" in t for t in texts)

    evaluation.rate(session, appeal, resident_id=alice.id, rating="1")
    commit_and_enqueue(session)
    assert (appeal.status, appeal.closure_code, appeal.rating) == ("closed", "resolved", "satisfied")
    assert actions(session, appeal) == [
        "create",
        "dispatch",
        "accept",
        "start",
        "note",
        "resolve",
        "rate",
        "close",
    ]
    # The resident's timeline shows the steps and the reply, never the internal note.
    public = workflow.timeline(session, appeal, audience="resident")
    assert [i["action"] for i in public] == [
        "create",
        "dispatch",
        "accept",
        "start",
        "resolve",
        "rate",
        "close",
    ]
    assert public[4]["text"] == "杂物已清理完毕"
    assert "13812345678" not in json.dumps(public, ensure_ascii=False)
    internal = workflow.timeline(session, appeal, audience="staff")
    assert any(i["action"] == "note" for i in internal)


def test_deadline_over_national_day_and_makeup_saturday(session: Session, org: Any, world: dict, clock: Any) -> None:
    clock.freeze(local(2026, 9, 30, 15))  # Wednesday before the 国庆 week
    appeal = new_appeal(session, org, world["alice"])
    workflow.dispatch(session, appeal, actor=workflow.SYSTEM, handler_type="grid")
    assert appeal.due_at == local(2026, 10, 10, 15)  # Oct 1–7 off; Saturday Oct 10 is a 调休 working day
    assert appeal.accept_due_at == local(2026, 9, 30, 17)
    ladder = dict(session.execute(select(Reminder.level, Reminder.due_at).where(Reminder.appeal_id == appeal.id)).all())
    assert ladder["remind_50"] == local(2026, 10, 9, 11)  # 12 working hours: Sep 30 (2 h), Oct 8 (8 h), Oct 9 (2 h)


def test_no_skipping_and_wrong_roles_refused(session: Session, org: Any, world: dict) -> None:
    alice = world["alice"]
    appeal = new_appeal(session, org, alice)
    with pytest.raises(InvalidTransition):
        workflow.accept(session, appeal, actor=staff(org, "g1_worker"))  # not dispatched yet
    with pytest.raises(Forbidden):
        workflow.dispatch(session, appeal, actor=staff(org, "g1_worker"), handler_type="grid")  # workers don't
    with pytest.raises(Forbidden):
        workflow.dispatch(session, appeal, actor=staff(org, "g2_leader"), handler_type="grid")  # another grid
    with pytest.raises(Forbidden):
        workflow.dispatch(session, appeal, actor=Actor("resident", alice.id), handler_type="grid")
    with pytest.raises(DomainError, match="handler_type"):
        workflow.dispatch(session, appeal, actor=staff(org, "g1_leader"))
    workflow.dispatch(session, appeal, actor=staff(org, "g1_leader"), property_company_id=org.companies["PC-LH"].id)
    assert appeal.handler_type == "property_company"
    with pytest.raises(Forbidden):
        workflow.accept(session, appeal, actor=staff(org, "pc_xy"))  # the other property company
    with pytest.raises(Forbidden):
        workflow.accept(session, appeal, actor=staff(org, "g1_worker"))  # not the unit it went to
    with pytest.raises(InvalidTransition):
        workflow.start(session, appeal, actor=staff(org, "pc_lh"))  # dispatched → in_progress skips 签收
    workflow.accept(session, appeal, actor=staff(org, "pc_lh"))
    with pytest.raises(InvalidTransition):
        workflow.resolve(session, appeal, actor=staff(org, "pc_lh"), reply="好了")  # accepted → resolved skips
    with pytest.raises(InvalidTransition):
        workflow.dispatch(session, appeal, actor=staff(org, "g1_leader"), handler_type="grid")
    workflow.start(session, appeal, actor=staff(org, "pc_lh"))
    with pytest.raises(DomainError, match="答复"):
        workflow.resolve(session, appeal, actor=staff(org, "pc_lh"), reply="  ")
    with pytest.raises(Forbidden):
        evaluation.rate(session, appeal, resident_id=alice.id + 999, rating="satisfied")
    with pytest.raises(InvalidTransition):
        evaluation.rate(session, appeal, resident_id=alice.id, rating="satisfied")  # not resolved yet
    with pytest.raises(Forbidden):
        workflow.resolve(session, appeal, actor=Actor("system"), reply="系统不能办结")
    assert appeal.status == "in_progress"
    assert actions(session, appeal) == ["create", "dispatch", "accept", "start"]


def test_return_twice_goes_to_arbitration(session: Session, org: Any, world: dict, run_jobs: Any, sandbox: Any) -> None:
    appeal = new_appeal(session, org, world["alice"], category="city_order")
    leader = staff(org, "g1_leader")
    workflow.dispatch(session, appeal, actor=leader, department_id=org.departments["chengguan"].id)
    with pytest.raises(DomainError, match="未知的退单原因"):
        workflow.return_appeal(session, appeal, actor=staff(org, "dept_chengguan"), reason_code="lazy", text="x")
    with pytest.raises(DomainError, match="说明原因"):
        workflow.return_appeal(session, appeal, actor=staff(org, "dept_chengguan"), reason_code="wrong_area", text="")
    with pytest.raises(Forbidden):
        workflow.return_appeal(session, appeal, actor=staff(org, "dept_police"), reason_code="wrong_area", text="x")
    workflow.return_appeal(
        session, appeal, actor=staff(org, "dept_chengguan"), reason_code="wrong_area", text="该地块属市政管辖"
    )
    assert (appeal.status, appeal.return_count) == ("returned", 1)
    pending = session.scalars(
        select(Reminder).where(
            Reminder.appeal_id == appeal.id, Reminder.sent_at.is_(None), Reminder.cancelled_at.is_(None)
        )
    ).all()
    assert pending == []  # a returned appeal has no running ladder

    # First return: the grid leader re-dispatches.
    workflow.dispatch(session, appeal, actor=leader, department_id=org.departments["police"].id)
    workflow.accept(session, appeal, actor=staff(org, "dept_police"))
    workflow.return_appeal(
        session, appeal, actor=staff(org, "dept_police"), reason_code="overlapping_remit", text="应由城管执法"
    )
    assert appeal.return_count == 2
    commit_and_enqueue(session)
    run_jobs()
    assert staff_sends(sandbox, org, "g1_leader", "退单待重新派单") == 1
    assert staff_sends(sandbox, org, "secretary", "退单待仲裁") == 1

    # Second return: only the secretary may decide.
    with pytest.raises(InvalidTransition, match="仲裁") as refused:
        workflow.dispatch(session, appeal, actor=leader, department_id=org.departments["chengguan"].id)
    assert refused.value.code == "arbitration_required"
    with pytest.raises(Forbidden):
        workflow.arbitrate(session, appeal, actor=leader, decision="dispatch", handler_type="grid")
    workflow.arbitrate(
        session,
        appeal,
        actor=staff(org, "secretary"),
        decision="dispatch",
        department_id=org.departments["chengguan"].id,
        note="审定：占道经营属城管职责",
    )
    assert appeal.status == "dispatched"
    assert appeal.department_id == org.departments["chengguan"].id
    events = session.scalars(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id).order_by(AppealEvent.id)
    ).all()
    returns = [e for e in events if e.action == "return"]
    assert [e.reason_code for e in returns] == ["wrong_area", "overlapping_remit"]
    assert returns[1].payload["needs_arbitration"] is True
    assert returns[0].payload["department_id"] == org.departments["chengguan"].id
    arbitration = next(e for e in events if e.action == "arbitrate")
    assert arbitration.payload["decision"] == "dispatch"
    assert arbitration.actor_id == org.staff["secretary"].id
    assert [e.action for e in events].count("dispatch") == 3
    # Residents never see the internal returns.
    assert "return" not in {i["action"] for i in workflow.timeline(session, appeal, audience="resident")}


def test_arbitration_can_close(session: Session, org: Any, world: dict) -> None:
    appeal = new_appeal(session, org, world["alice"], category="city_order")
    for dept in ("chengguan", "police"):
        if appeal.status == "returned":
            workflow.dispatch(session, appeal, actor=staff(org, "g1_leader"), department_id=org.departments[dept].id)
        else:
            workflow.dispatch(session, appeal, actor=workflow.SYSTEM, department_id=org.departments[dept].id)
        workflow.return_appeal(session, appeal, actor=staff(org, f"dept_{dept}"), reason_code="incomplete", text="?")
    workflow.arbitrate(
        session,
        appeal,
        actor=staff(org, "secretary"),
        decision="close",
        code="referred",
        note="已转12345热线",
    )
    assert (appeal.status, appeal.closure_code) == ("closed", "referred")


def test_closure_codes(session: Session, org: Any, world: dict) -> None:
    alice = world["alice"]
    appeal = new_appeal(session, org, alice)
    leader = staff(org, "g1_leader")
    workflow.dispatch(session, appeal, actor=leader, handler_type="grid")
    with pytest.raises(DomainError, match="说明原因"):
        workflow.close(session, appeal, actor=leader, code="unresolved")
    with pytest.raises(InvalidTransition):
        workflow.close(session, appeal, actor=leader, code="resolved")  # "resolved" only after resolution
    with pytest.raises(DomainError, match="withdraw"):
        workflow.close(session, appeal, actor=leader, code="withdrawn")
    with pytest.raises(Forbidden):
        workflow.close(session, appeal, actor=staff(org, "g1_worker"), code="duplicate")
    workflow.close(session, appeal, actor=leader, code="unresolved", note="涉及规划调整，暂无法解决")
    assert (appeal.status, appeal.closure_code, appeal.closure_note) == (
        "closed",
        "unresolved",
        "涉及规划调整，暂无法解决",
    )
    assert (
        session.scalars(select(Reminder).where(Reminder.appeal_id == appeal.id, Reminder.cancelled_at.is_(None))).all()
        == []
    )
    with pytest.raises(InvalidTransition):
        workflow.close(session, appeal, actor=leader, code="duplicate")
    close_event = session.scalar(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.action == "close")
    )
    assert (close_event.reason_code, close_event.from_status, close_event.to_status) == (
        "unresolved",
        "dispatched",
        "closed",
    )


def test_visible_to_staff_scoping(session: Session, org: Any, world: dict) -> None:
    alice = world["alice"]
    bob = resident(session, org, "bob", building="E-XY-2")  # grid G3
    lh = new_appeal(session, org, alice, category="property")
    workflow.dispatch(session, lh, actor=workflow.SYSTEM, property_company_id=org.companies["PC-LH"].id)
    xy = new_appeal(session, org, bob, category="property")
    workflow.dispatch(session, xy, actor=workflow.SYSTEM, property_company_id=org.companies["PC-XY"].id)
    noise = new_appeal(session, org, bob, category="noise")
    workflow.dispatch(session, noise, actor=workflow.SYSTEM, department_id=org.departments["environment"].id)
    session.flush()

    def seen(key: str) -> set[int]:
        return set(session.scalars(workflow.visible_to_staff(session, org.staff[key]).with_only_columns(Appeal.id)))

    assert seen("pc_lh") == {lh.id}
    assert seen("pc_xy") == {xy.id}  # a company never sees another company's appeals
    assert seen("g1_worker") == {lh.id}
    assert seen("g3_leader") == {xy.id, noise.id}
    assert seen("g2_worker") == set()
    assert seen("dept_environment") == {noise.id}
    assert seen("dept_police") == set()
    assert seen("secretary") == {lh.id, xy.id, noise.id}
    for key in ("pc_lh", "g3_leader", "secretary", "dept_environment"):
        member = org.staff[key]
        assert {a.id for a in (lh, xy, noise) if workflow.staff_can_see(member, a)} == seen(key)
    org.staff["secretary"].active = False
    assert seen("secretary") == set()


def test_list_for_resident_and_withdraw(session: Session, org: Any, world: dict, clock: Any) -> None:
    alice = world["alice"]
    first = new_appeal(session, org, alice)
    clock.advance(timedelta(minutes=5))
    second = new_appeal(session, org, alice, category="noise")
    evaluation.withdraw(session, first, resident_id=alice.id, reason="已自行解决")
    assert (first.status, first.closure_code) == ("closed", "withdrawn")
    assert [a.id for a in workflow.list_for_resident(session, alice.id)] == [second.id, first.id]
    assert [a.id for a in workflow.list_for_resident(session, alice.id, status="open")] == [second.id]
    assert [a.id for a in workflow.list_for_resident(session, alice.id, status="closed")] == [first.id]
    assert [a.id for a in workflow.list_for_resident(session, alice.id, limit=1, offset=1)] == [first.id]
    assert actions(session, first)[-2:] == ["withdraw", "close"]
    with pytest.raises(InvalidTransition):
        evaluation.withdraw(session, first, resident_id=alice.id)


def test_supporters_receive_updates(session: Session, org: Any, world: dict, run_jobs: Any, sandbox: Any) -> None:
    alice = world["alice"]
    bob = resident(session, org, "bob")
    appeal = new_appeal(session, org, alice)
    session.add(AppealSupporter(appeal_id=appeal.id, resident_id=bob.id, text="我家楼道也一样"))
    session.flush()
    workflow.dispatch(session, appeal, actor=workflow.SYSTEM, handler_type="grid")
    commit_and_enqueue(session)
    run_jobs()
    for person in (alice, bob):
        assert any(appeal.number in t and "第一网格" in t for t in resident_texts(sandbox, person))
