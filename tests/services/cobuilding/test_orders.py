"""One-click ordering and 接单: every state change, every refusal, capacity held by the database under contention."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from infra.web import get_db
from models.cobuilding import CobuildingOrder, CobuildingReminder, CobuildingResource
from models.messages import OutboundMessage
from models.outbox import PendingJob
from services.cobuilding import needs, orders, resources
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound


def _place(session, cob, staff_key="g1_leader", **kw):
    placed = orders.place(session, cob.org.staff[staff_key], resource_id=cob.lecture.id, **kw)
    session.flush()
    return placed.order


def test_the_full_life_of_an_order(session, cob, clock):
    leader = cob.org.staff["g1_leader"]
    need = needs.post(session, leader, title="孩子们需要心理辅导", beneficiaries=40)
    placed = orders.place(session, leader, resource_id=cob.lecture.id, quantity=2, need_id=need.id)
    order = placed.order
    assert placed.remaining == 3
    assert order.status == "placed"
    assert order.grid_id == leader.grid_id
    assert order.beneficiaries == 40
    assert need.status == "ordered"
    # One working day to answer; a reminder at half time and an escalation at the deadline.
    levels = session.scalars(select(CobuildingReminder.level).where(CobuildingReminder.order_id == order.id))
    assert sorted(levels) == ["overdue", "remind"]
    assert order.accept_due_at > order.placed_at
    assert orders.allowed_actions(session, cob.school_login, order) == ["accept", "decline"]

    orders.accept(session, cob.school_login, order)
    assert order.status == "accepted"
    assert order.accepted_at is not None
    pending = session.scalars(select(CobuildingReminder).where(CobuildingReminder.order_id == order.id)).all()
    assert all(r.cancelled_at is not None for r in pending)

    orders.schedule(session, cob.school_login, order, at=clock.now() + timedelta(days=3))
    assert order.status == "scheduled"
    orders.deliver(session, cob.school_login, order)
    assert order.status == "delivered"
    assert orders.confirm(session, cob.school_login, order) is False
    assert order.status == "delivered"
    assert order.unit_confirmed_at is not None
    assert orders.confirm(session, leader, order) is True
    assert order.status == "confirmed"
    orders.evaluate(session, leader, order, score=5, text="讲得好", beneficiaries=38)
    assert (order.status, order.score, order.beneficiaries) == ("evaluated", 5, 38)
    assert need.status == "met"
    session.refresh(cob.lecture)
    assert cob.lecture.reserved == 2  # a delivered order keeps what it used


def test_placing_tells_the_units_login_through_the_outbox(session, cob):
    order = _place(session, cob)
    jobs = session.scalars(select(PendingJob)).all()
    assert any(cob.school_login.id in (j.args or []) for j in jobs), [j.args for j in jobs]
    assert order.id


def test_a_unit_cannot_accept_another_units_order(session, cob):
    order = _place(session, cob)
    with pytest.raises(Forbidden):
        orders.accept(session, cob.company_login, order)
    with pytest.raises(NotFound):  # it does not even see it
        orders.get(session, cob.company_login, order.id)
    with pytest.raises(Forbidden):  # a coordinator is not the unit either
        orders.accept(session, cob.org.staff["secretary"], order)
    assert order.status == "placed"


def test_an_order_over_the_remaining_capacity_is_refused(session, cob):
    _place(session, cob, quantity=4)
    with pytest.raises(Conflict) as err:
        _place(session, cob, staff_key="g2_leader", quantity=2)
    assert err.value.code == "over_capacity"
    assert err.value.details == {"remaining": 1}
    _place(session, cob, staff_key="g2_leader", quantity=1)
    session.refresh(cob.lecture)
    assert cob.lecture.reserved == cob.lecture.capacity == 5


def test_the_database_refuses_reserved_beyond_capacity_whatever_the_caller(session, cob):
    with pytest.raises(IntegrityError):
        session.execute(
            CobuildingResource.__table__.update()
            .where(CobuildingResource.id == cob.lecture.id)
            .values(reserved=cob.lecture.capacity + 1)
        )


def test_a_decline_needs_a_reason_and_gives_the_capacity_back(session, cob):
    order = _place(session, cob, quantity=3)
    for reason in ("", "  ", "无"):
        with pytest.raises(DomainError) as err:
            orders.decline(session, cob.school_login, order, reason=reason)
        assert err.value.code == "reason_required"
    assert order.status == "placed"
    orders.decline(session, cob.school_login, order, reason="讲师那周外出培训")
    assert order.status == "declined"
    assert order.decline_reason == "讲师那周外出培训"
    session.refresh(cob.lecture)
    assert cob.lecture.reserved == 0


def test_an_order_on_an_expired_or_withdrawn_resource_is_refused(session, cob, clock):
    clock.advance(timedelta(days=61))
    with pytest.raises(Conflict) as err:
        _place(session, cob)
    assert err.value.code == "resource_expired"
    clock.advance(timedelta(days=-61))
    resources.withdraw(session, cob.school_login, cob.lecture)
    with pytest.raises(Conflict) as err:
        _place(session, cob)
    assert err.value.code == "resource_withdrawn"


def test_only_requesters_place_orders_and_only_for_resources_serving_them(session, cob, org):
    with pytest.raises(Forbidden):
        orders.place(session, cob.company_login, resource_id=cob.lecture.id)
    with pytest.raises(Forbidden):
        orders.place(session, org.staff["pc_lh"], resource_id=cob.lecture.id)
    with pytest.raises(DomainError):
        orders.place(session, org.staff["g1_leader"], resource_id=cob.lecture.id, quantity=0)


ILLEGAL = [
    ("placed", "schedule"),
    ("placed", "deliver"),
    ("placed", "confirm"),
    ("placed", "evaluate"),
    ("accepted", "accept"),
    ("accepted", "decline"),
    ("accepted", "deliver"),
    ("accepted", "evaluate"),
    ("scheduled", "accept"),
    ("scheduled", "cancel"),
    ("scheduled", "confirm"),
    ("delivered", "deliver"),
    ("delivered", "evaluate"),
    ("delivered", "cancel"),
    ("confirmed", "confirm"),
    ("confirmed", "accept"),
    ("evaluated", "evaluate"),
    ("evaluated", "cancel"),
    ("declined", "accept"),
    ("declined", "cancel"),
    ("cancelled", "accept"),
    ("cancelled", "decline"),
]


def _drive_to(session, cob, clock, state):
    leader = cob.org.staff["g1_leader"]
    order = _place(session, cob)
    unit = cob.school_login
    path = {
        "placed": [],
        "accepted": ["accept"],
        "declined": ["decline"],
        "cancelled": ["cancel"],
        "scheduled": ["accept", "schedule"],
        "delivered": ["accept", "schedule", "deliver"],
        "confirmed": ["accept", "schedule", "deliver", "confirm_unit", "confirm_requester"],
        "evaluated": ["accept", "schedule", "deliver", "confirm_unit", "confirm_requester", "evaluate"],
    }[state]
    for step in path:
        _act(session, cob, clock, order, step, unit if step != "cancel" else leader)
    assert order.status == state
    return order


def _act(session, cob, clock, order, step, who):
    leader = cob.org.staff["g1_leader"]
    if step == "accept":
        orders.accept(session, who, order)
    elif step == "decline":
        orders.decline(session, who, order, reason="时间冲突")
    elif step == "cancel":
        orders.cancel(session, who, order)
    elif step == "schedule":
        orders.schedule(session, who, order, at=clock.now() + timedelta(days=2))
    elif step == "deliver":
        orders.deliver(session, who, order)
    elif step in ("confirm", "confirm_unit"):
        orders.confirm(session, who, order)
    elif step == "confirm_requester":
        orders.confirm(session, leader, order)
    elif step == "evaluate":
        orders.evaluate(session, leader, order, score=4)


@pytest.mark.parametrize(("state", "step"), ILLEGAL)
def test_every_illegal_state_change_is_refused(session, cob, clock, state, step):
    order = _drive_to(session, cob, clock, state)
    who = cob.org.staff["g1_leader"] if step in ("cancel", "evaluate") else cob.school_login
    with pytest.raises((InvalidTransition, Conflict)):
        _act(session, cob, clock, order, step, who)
    assert order.status == state


def test_a_side_cannot_confirm_twice(session, cob, clock):
    order = _drive_to(session, cob, clock, "delivered")
    orders.confirm(session, cob.school_login, order)
    with pytest.raises(Conflict) as err:
        orders.confirm(session, cob.school_login, order)
    assert err.value.code == "already_confirmed"


def test_evaluation_score_is_one_to_five(session, cob, clock):
    order = _drive_to(session, cob, clock, "confirmed")
    for bad in (0, 6):
        with pytest.raises(DomainError):
            orders.evaluate(session, cob.org.staff["g1_leader"], order, score=bad)
    with pytest.raises(Forbidden):
        orders.evaluate(session, cob.org.staff["g2_leader"], order, score=3)


def test_a_schedule_outside_the_availability_is_refused(session, cob, clock):
    order = _drive_to(session, cob, clock, "accepted")
    with pytest.raises(DomainError) as err:
        orders.schedule(session, cob.school_login, order, at=clock.now() + timedelta(days=90))
    assert err.value.code == "outside_window"


# ---------------------------------------------------------------- the acceptance ladder


def test_the_ladder_reminds_then_escalates_once_and_stops_when_answered(session, cob, clock):
    order = _place(session, cob)
    session.commit()
    assert orders.due_reminders(session, clock.now()) == []
    clock.advance(timedelta(days=5))  # past one working day, whatever the weekday
    due = orders.due_reminders(session, clock.now())
    assert [r.level for r in due] == ["remind", "overdue"]
    assert orders.run_step(session, order.id, "remind") == "reminded"
    assert orders.run_step(session, order.id, "remind") == "already done"
    assert orders.run_step(session, order.id, "overdue") == "escalated"
    assert order.escalated is True
    secretary = cob.org.staff["secretary"]
    keys = [j.args for j in session.scalars(select(PendingJob))]
    assert any(secretary.id in args and f"cob-order-{order.id}-escalated" in args for args in keys)

    second = _place(session, cob, staff_key="g2_leader")
    orders.accept(session, cob.school_login, second)
    assert orders.run_step(session, second.id, "overdue") == "already done"  # cancelled when accepted
    assert session.scalar(select(func.count()).select_from(OutboundMessage)) == 0  # nothing claimed sent


# ---------------------------------------------------------------- contention (SQLite and PostgreSQL)


def _race(db: Any, n: int, work: Any) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        s = db.session()
        try:
            barrier.wait()
            results[i] = work(s, i)
            s.commit()
        except Exception as e:
            s.rollback()
            results[i] = e
        finally:
            s.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _thirty_orders_for_a_capacity_of_seven(app: Any, seed_cob: Any) -> None:
    from models.staff import Staff
    from services.demo import seed_org

    db = get_db(app)
    with db.transaction() as s:
        org = seed_org(s)
        cob = seed_cob(s, org, capacity=7)
        resource_id = cob.lecture.id
        requester_ids = [org.staff[k].id for k in ("g1_leader", "g2_leader", "g3_leader", "secretary")]

    def order_one(s: Any, i: int) -> int:
        staff = s.get(Staff, requester_ids[i % len(requester_ids)])
        return orders.place(s, staff, resource_id=resource_id, quantity=1).order.id

    results = _race(db, 30, order_one)
    placed = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, Conflict) and r.code == "over_capacity"]
    assert len(placed) == 7, [r for r in results if not isinstance(r, int)][:3]
    assert len(refused) == 23
    with db.transaction() as s:
        assert s.get(CobuildingResource, resource_id).reserved == 7
        assert s.scalar(select(func.count()).select_from(CobuildingOrder)) == 7


def _accept_and_decline_at_once(app: Any, seed_cob: Any) -> None:
    from models.staff import Staff
    from services.demo import seed_org

    db = get_db(app)
    with db.transaction() as s:
        org = seed_org(s)
        cob = seed_cob(s, org, capacity=7)
        order_id = orders.place(s, org.staff["g1_leader"], resource_id=cob.lecture.id, quantity=2).order.id
        login_id = cob.school_login.id

    def answer(s: Any, i: int) -> str:
        staff = s.get(Staff, login_id)
        order = orders.get(s, staff, order_id, for_update=True)
        if i % 2:
            orders.accept(s, staff, order)
        else:
            orders.decline(s, staff, order, reason="人手不足")
        return order.status

    results = _race(db, 10, answer)
    won = [r for r in results if isinstance(r, str)]
    assert len(won) == 1, results
    assert all(isinstance(r, InvalidTransition) for r in results if not isinstance(r, str))
    with db.transaction() as s:
        reserved = s.get(CobuildingResource, s.get(CobuildingOrder, order_id).resource_id).reserved
        assert reserved == (2 if won[0] == "accepted" else 0)


def test_thirty_orders_for_a_capacity_of_seven_on_sqlite(app, clock, seed_cob):
    _thirty_orders_for_a_capacity_of_seven(app, seed_cob)


@pytest.mark.postgres
def test_thirty_orders_for_a_capacity_of_seven_on_postgres(pg_app, clock, seed_cob):
    _thirty_orders_for_a_capacity_of_seven(pg_app, seed_cob)


def test_one_answer_wins_when_a_unit_accepts_and_declines_at_once_on_sqlite(app, clock, seed_cob):
    _accept_and_decline_at_once(app, seed_cob)


@pytest.mark.postgres
def test_one_answer_wins_when_a_unit_accepts_and_declines_at_once_on_postgres(pg_app, clock, seed_cob):
    _accept_and_decline_at_once(pg_app, seed_cob)
