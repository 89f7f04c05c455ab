"""Councils and 四议两公开: members, meetings, steps in order, publications pushed to residents in scope."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from models.micro_project import Proposal
from models.notice import Notice
from models.outbox import PendingJob
from services.errors import Conflict, DomainError, Forbidden, NotFound
from services.notifications.notify import BROADCAST_JOB
from services.participation import councils, procedure, proposals

from .conftest import make_resident


def _pushed(session, notice_id: int) -> list[int]:
    """The residents a notice's broadcast is recorded for (BROADCAST_JOB arguments: ids, text, key, …)."""
    jobs = session.scalars(select(PendingJob).where(PendingJob.func == BROADCAST_JOB))
    return sorted(rid for j in jobs if j.args[2] == f"notice:{notice_id}" for rid in j.args[0])


@pytest.fixture
def council(session, org):
    staff = org.staff["secretary"]
    c = councils.create_council(session, staff, name="绿洲花园红管议事会", estate_id=org.estates["E-LZ"].id)
    for name, kind in [("张党员", "party_member"), ("李代表", "resident_rep"), ("绿洲物业", "property_company")]:
        councils.add_member(session, staff, c, name=name, kind=kind)
    return c


def test_a_council_meets_with_agenda_attendance_and_minutes(session, org, council, clock):
    staff = org.staff["secretary"]
    meeting = councils.schedule_meeting(
        session, staff, council, title="十二月议事会", held_at=clock.now(), agenda=["电动车充电", "  ", "楼道堆物"]
    )
    members = councils.view(session, council)["members"]
    councils.record_meeting(session, staff, meeting, present_member_ids=[members[0]["id"]], minutes="议定增设充电桩")
    seen = councils.view(session, council)["meetings"][0]
    assert seen["agenda"] == ["电动车充电", "楼道堆物"]
    assert seen["present"] == [members[0]["id"]]
    assert seen["minutes"] == "议定增设充电桩"
    with pytest.raises(DomainError):
        councils.record_meeting(session, staff, meeting, present_member_ids=[999_999])
    with pytest.raises(DomainError):
        councils.add_member(session, staff, council, name="x", kind="stranger")


def test_the_procedure_runs_in_order_and_publishes_twice_to_residents_in_scope(session, org, council, clock):
    staff = org.staff["secretary"]
    inside = make_resident(session, org, building="E-LZ-2")
    outside = make_resident(session, org, building="E-XY-1")
    proposer = make_resident(session, org, building="E-LZ-1")
    source = proposals.propose(session, proposer, title="增设充电桩", description="楼下没有充电桩", scope="estate")
    item = councils.add_item(
        session, staff, council, title="增设电动车充电桩", source_type="proposal", source_id=source.public_id
    )
    today = clock.local_now().date()
    with pytest.raises(Conflict) as skipped:
        procedure.deliberate(session, staff, item, "party_review", held_on=today, outcome="approved")
    assert skipped.value.code == "step_out_of_order"
    assert skipped.value.details == {"expected": "party_proposal"}
    with pytest.raises(Conflict):
        procedure.publish(session, staff, item, "publish_resolution", held_on=today, text="决议")
    days = [today - timedelta(days=n) for n in (9, 6, 3, 1)]
    for step, day in zip(procedure.DELIBERATIONS, days, strict=True):
        procedure.deliberate(session, staff, item, step, held_on=day, outcome="approved", note=f"{step} 通过")
    assert item.status == "resolved"
    resolution = procedure.publish(
        session, staff, item, "publish_resolution", held_on=today, text="增设 20 个充电桩，预算 3 万元",
        proposal={"title": "绿洲花园充电桩", "rough_cost_yuan": 30000},
    )  # fmt: skip
    notice = session.get(Notice, resolution.notice_id)
    assert notice.estate_id == org.estates["E-LZ"].id
    assert notice.title.startswith("决议公开")
    pushed = _pushed(session, notice.id)
    assert inside.id in pushed
    assert proposer.id in pushed
    assert outside.id not in pushed
    created = session.get(Proposal, item.created_proposal_id)
    assert (created.status, created.source, created.rough_cost_yuan) == ("feasible", "council", 30000)
    procedure.publish(session, staff, item, "publish_result", held_on=today, text="20 个充电桩已投入使用")
    assert item.status == "done"
    assert procedure.next_step(session, item) is None
    shown = procedure.view(session, item)
    assert [s["label"] for s in shown["steps"]] == list(procedure.LABELS.values())
    assert [s["held_on"] for s in shown["steps"]][:4] == days


def test_a_rejected_deliberation_ends_the_procedure(session, org, council, clock):
    staff = org.staff["secretary"]
    item = councils.add_item(session, staff, council, title="拆除花坛改车位")
    today = clock.local_now().date()
    procedure.deliberate(session, staff, item, "party_proposal", held_on=today, outcome="approved")
    procedure.deliberate(session, staff, item, "committees_consult", held_on=today, outcome="rejected", note="绿地")
    assert item.status == "rejected"
    with pytest.raises(Conflict):
        procedure.deliberate(session, staff, item, "party_review", held_on=today, outcome="approved")


def test_dates_run_forward_and_not_into_the_future(session, org, council, clock):
    staff = org.staff["secretary"]
    item = councils.add_item(session, staff, council, title="议题")
    today = clock.local_now().date()
    with pytest.raises(DomainError):
        procedure.deliberate(
            session, staff, item, "party_proposal", held_on=today + timedelta(days=1), outcome="approved"
        )
    procedure.deliberate(session, staff, item, "party_proposal", held_on=today, outcome="approved")
    with pytest.raises(DomainError):
        procedure.deliberate(
            session, staff, item, "committees_consult", held_on=today - timedelta(days=1), outcome="approved"
        )


def test_an_item_from_an_appeal_and_an_ordinary_decision_creating_a_notice(session, org, council, clock):
    from services.appeals.records import create_appeal

    staff = org.staff["secretary"]
    appeal = create_appeal(session, resident=make_resident(session, org), text="小区门口路灯不亮", channel="wechat")
    item = councils.add_item(
        session, staff, council, title="路灯维修", source_type="appeal", source_id=appeal.public_id, major=False
    )
    assert item.appeal_id == appeal.id
    with pytest.raises(Conflict):
        procedure.deliberate(session, staff, item, "party_proposal", held_on=date.today(), outcome="approved")
    procedure.decide(session, staff, item, decision="物业本周内更换灯具", create="notice")
    assert session.get(Notice, item.created_notice_id).body == "物业本周内更换灯具"
    with pytest.raises(Conflict):
        procedure.decide(session, staff, item, decision="again")


def test_only_organisers_of_the_community_run_councils(session, org, council):
    with pytest.raises(Forbidden):
        councils.create_council(session, org.staff["g1_worker"], name="x")
    with pytest.raises(Forbidden):
        councils.add_item(session, org.staff["pc_lh"], council, title="x")


def test_a_resolution_and_an_ordinary_decision_post_co_building_needs(session, org, council, clock):
    from models.cobuilding import CobuildingNeed
    from services.cobuilding import needs

    staff = org.staff["secretary"]
    item = councils.add_item(session, staff, council, title="为独居老人配助餐")
    day = clock.local_now().date()
    for step in procedure.DELIBERATIONS:
        procedure.deliberate(session, staff, item, step, held_on=day, outcome="approved")
    asked = {"title": "独居老人助餐", "beneficiaries": 12, "wanted_by": day + timedelta(days=30)}
    procedure.publish(
        session, staff, item, "publish_resolution", held_on=day, text="请共建单位每周送餐三次", need=asked
    )
    need = session.get(CobuildingNeed, item.created_need_id)
    assert need is not None
    assert (need.title, need.source, need.deliberation_ref, need.beneficiaries, need.community_id) == (
        "独居老人助餐", "deliberation", item.public_id, 12, org.community.id)  # fmt: skip
    assert need.description == "请共建单位每周送餐三次"
    assert procedure.view(session, item)["created_need"] == need.id
    assert need in session.scalars(needs.visible(session, staff)).all()  # on the community's needs list
    minor = councils.add_item(session, staff, council, title="楼道宣传栏更新", major=False)
    procedure.decide(session, staff, minor, decision="请共建单位提供宣传栏", create="need", need={"beneficiaries": 3})
    second = session.get(CobuildingNeed, minor.created_need_id)
    assert (second.title, second.description, second.deliberation_ref) == (
        "楼道宣传栏更新", "请共建单位提供宣传栏", minor.public_id)  # fmt: skip
    # …and a need can come back before the council as an item of its own.
    raised = councils.add_item(session, staff, council, title="助餐进展", source_type="need", source_id=str(need.id))
    assert raised.need_id == need.id
    with pytest.raises(NotFound):
        councils.add_item(session, staff, council, title="x", source_type="need", source_id="999999")
    with pytest.raises(DomainError) as bad:
        procedure.decide(session, staff, councils.add_item(session, staff, council, title="y", major=False),
                         decision="d", create="poster")  # fmt: skip
    assert bad.value.code == "invalid_create"
