"""Who handles an appeal and who is told: one rule for the chase, the urgent push, dispatch and intake."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from models import Appeal, Resident, Staff
from services.appeals import handling, routing, states
from services.appeals.intake import handle_text
from services.appeals.records import create_appeal


def _grid_appeal(session: Session, org: Any, **fields: Any) -> Appeal:
    appeal = create_appeal(session, resident=None, text="楼下垃圾堆了三天", channel="wechat")
    base = {"community_id": org.community.id, "grid_id": org.grids["G1"].id, "handler_type": "grid"}
    for name, value in {**base, "status": "dispatched", **fields}.items():
        setattr(appeal, name, value)
    session.flush()
    return appeal


def test_the_assignee_is_the_handler_who_is_told(session: Session, org: Any) -> None:
    second_worker = Staff(name="陈网格", role="grid_worker", community_id=org.community.id, grid_id=org.grids["G1"].id)
    session.add(second_worker)
    session.flush()
    appeal = _grid_appeal(session, org)
    assert [s.id for s in handling.handler_staff(session, appeal)] == [org.staff["g1_worker"].id, second_worker.id]

    appeal.assignee_staff_id = second_worker.id  # signed in by the second worker
    assert handling.handler_staff(session, appeal) == [second_worker]


def test_an_urgent_push_reaches_the_assignee_not_the_whole_grid(session: Session, org: Any, clock: Any) -> None:
    second_worker = Staff(
        name="陈网格", role="grid_worker", community_id=org.community.id, grid_id=org.grids["G1"].id, openid="o-chen"
    )
    session.add(second_worker)
    session.flush()
    appeal = _grid_appeal(session, org, urgent=True, assignee_staff_id=second_worker.id)
    pushed = routing.push_urgent(session, appeal)
    assert second_worker.id in pushed
    assert org.staff["g1_worker"].id not in pushed  # not the one who signed it in
    assert org.staff["g1_leader"].id in pushed  # the grid leader is always told of an urgent appeal


def test_a_grid_without_workers_is_handled_by_its_leader(session: Session, org: Any) -> None:
    session.execute(update(Staff).where(Staff.role == "grid_worker").values(active=False))
    appeal = _grid_appeal(session, org)
    assert handling.handler_staff(session, appeal) == [org.staff["g1_leader"]]


def test_an_undispatched_appeal_with_a_grid_is_the_grids(session: Session, org: Any) -> None:
    appeal = _grid_appeal(session, org, handler_type=None, status="received")
    assert handling.handler_staff(session, appeal) == [org.staff["g1_worker"]]


def test_the_unit_is_named_the_same_by_intake_and_the_workflow(session: Session, org: Any, clock: Any) -> None:
    routing.seed_routing(session)
    building = org.buildings["E-LZ-2"]
    alice = Resident(openid="o-alice", community_id=org.community.id, building_id=building.id, grid_id=building.grid_id)
    session.add(alice)
    session.commit()
    result = handle_text(session, alice, "楼下垃圾堆了三天没人清理，很臭")
    session.commit()
    appeal = result.appeal
    assert appeal is not None
    assert appeal.handler_type == "grid"
    unit = handling.unit_name(session, appeal)
    assert unit == org.grids["G1"].name  # the unit itself, as every other message names it
    assert f"已转交{unit}处理" in result.reply
    assert "网格员" not in result.reply


def test_the_state_sets_say_what_they_mean() -> None:
    # A resolved appeal awaits the resident's rating: not closed, but no longer owed by the handler.
    assert "resolved" in states.NOT_CLOSED
    assert "resolved" not in states.UNRESOLVED
    assert set(states.UNRESOLVED) == set(states.NOT_CLOSED) - {"resolved"}
    assert set(states.WORKING) <= set(states.UNRESOLVED)
    assert set(states.NOT_YET_ACCEPTED) <= set(states.UNRESOLVED)
    assert not set(states.NOT_YET_ACCEPTED) & {"accepted", "in_progress"}
