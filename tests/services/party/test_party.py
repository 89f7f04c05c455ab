"""党员报到 and verification, branch lists masked, 党员联户 with coverage, 先锋日志 into the ledger, 行动支部, tags."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models import Resident
from models.outbox import PendingJob
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition
from services.notifications import notify
from services.party import activity, members
from services.points import ledger as points


def person(session: Any, org: Any, name: str = "王建国", building: str = "E-LZ-1", room: str = "101") -> Resident:
    b = org.buildings[building]
    r = Resident(name=name, phone="13900001111", openid=f"o-party-{room}-{b.id}", subscribed=True,
                 community_id=org.community.id, grid_id=b.grid_id, building_id=b.id, room=room)  # fmt: skip
    session.add(r)
    session.flush()
    return r


def verified(session: Any, org: Any, **kw: Any) -> Any:
    r = person(session, org, **kw)
    m = members.register(session, r.id, category="在职", organisation="苏州工业园区某某科技有限公司党支部")
    members.verify(session, m.id, org.staff["community_staff"].id)
    return r, m


def test_registration_is_verified_by_staff_and_listed_masked_in_the_grid_branch(session, org, clock, caplog):
    r = person(session, org)
    with pytest.raises(DomainError):
        members.register(session, r.id, category="党员", organisation="x")
    m = members.register(session, r.id, category="离退休", organisation="园区老干部党支部")
    with pytest.raises(Conflict, match="审核中"):
        members.register(session, r.id, category="离退休", organisation="园区老干部党支部")
    assert members.branch_list(session, r.grid_id) == []
    with pytest.raises(Forbidden):
        members.verify(session, m.id, org.staff["g3_leader"].id)
    with caplog.at_level(logging.INFO):
        members.verify(session, m.id, org.staff["community_staff"].id)
    [listed] = members.branch_list(session, r.grid_id)
    assert (listed.name, listed.category, listed.organisation, listed.phone) == (
        "王**", "离退休", "园区******", "139****1111",
    )  # fmt: skip
    assert "13900001111" not in caplog.text
    jobs = [j for j in session.scalars(select(PendingJob).where(PendingJob.func == notify.RESIDENT_JOB))]
    assert [j.args[0] for j in jobs] == [r.id]
    with pytest.raises(InvalidTransition):
        members.verify(session, m.id, org.staff["community_staff"].id)


def test_households_are_linked_once_and_coverage_is_reported_per_grid(session, org, clock):
    _, m = verified(session, org)
    for room in ("201", "202", "203"):
        person(session, org, name="住户", room=room)
    b = org.buildings["E-LZ-1"]
    members.link_household(session, org.staff["community_staff"].id, m.id, b.id, "201")
    members.link_household(session, org.staff["community_staff"].id, m.id, b.id, "202")
    with pytest.raises(Conflict, match="已有联户党员"):
        members.link_household(session, org.staff["community_staff"].id, m.id, b.id, "202")
    other = org.buildings["E-XY-2"]  # in G3, not the member's grid
    with pytest.raises(Conflict, match="本网格"):
        members.link_household(session, org.staff["community_staff"].id, m.id, other.id, "101")
    mine = members.households_of(session, m.resident_id)
    assert [(h.room, bld.id) for h, bld in mine] == [("201", b.id), ("202", b.id)]
    by_grid = {c.grid_id: c for c in members.coverage(session, org.community.id)}
    g1 = by_grid[b.grid_id]
    assert (g1.households, g1.covered) == (4, 2)  # the member's own 101 plus 201-203
    assert g1.rate == 0.5


def test_pioneer_log_is_reviewed_like_volunteer_tasks_and_feeds_the_ledger(session, org, clock):
    cats = points.seed_task_categories(session)
    category = next(iter(cats.values()))
    r, _ = verified(session, org)
    outsider = person(session, org, name="路人", room="909")
    with pytest.raises(Conflict, match="核实后"):
        activity.log_entry(session, outsider.id, category.id, text="帮助邻居搬运物资", photos=[], lat=31.3, lng=120.7)
    entry = activity.log_entry(
        session, r.id, category.id, text="入户宣传垃圾分类十户", photos=["p1"], lat=31.3, lng=120.7
    )
    leader = org.staff["g1_leader"].id
    with pytest.raises(DomainError, match="原因"):
        activity.review_log(session, entry.id, leader, approve=False)
    activity.review_log(session, entry.id, leader, approve=True)
    assert points.balance_of(session, r.id) == category.standard_points
    with pytest.raises(InvalidTransition):
        activity.review_log(session, entry.id, leader, approve=True)
    assert [e.status for e in activity.logs_of(session, r.id)] == ["approved"]
    totals = activity.branch_month_totals(session, org.community.id, entry.period_key)
    assert totals == [(r.grid_id, 1, category.standard_points)]


def test_action_branch_has_members_progress_and_closes_with_a_result(session, org, clock):
    _, m = verified(session, org)
    staff = org.staff["community_staff"].id
    today = clock.local_now().date()
    branch = activity.create_branch(
        session, staff, community_id=org.community.id, name="垃圾分类行动支部", goal="三个月内分类准确率达到 90%",
        starts_on=today, ends_on=today + timedelta(days=90), member_ids=[m.id, m.id],
    )  # fmt: skip
    activity.report_progress(session, staff, branch.id, 40, "已完成两个小区")
    with pytest.raises(DomainError):
        activity.report_progress(session, staff, branch.id, 140)
    activity.close_branch(session, staff, branch.id, "准确率 92%，提前完成")
    assert (branch.status, branch.progress, branch.result) == ("closed", 40, "准确率 92%，提前完成")
    with pytest.raises(InvalidTransition):
        activity.report_progress(session, staff, branch.id, 50)


def test_tags_are_community_data(session, org, clock):
    _, m = verified(session, org)
    staff = org.staff["community_staff"].id
    tag = activity.define_tag(session, staff, org.community.id, "党员示范户", "party_member")
    with pytest.raises(Conflict):
        activity.define_tag(session, staff, org.community.id, "党员示范户", "party_member")
    activity.assign_tag(session, staff, tag.id, m.id)
    activity.assign_tag(session, staff, tag.id, m.id)
    assert activity.tags_of(session, "party_member", m.id) == ["党员示范户"]


def test_a_registration_is_declined_only_with_a_reason_the_member_is_told(session, org, clock):
    r = person(session, org)
    m = members.register(session, r.id, category="流动", organisation="外地某党支部")
    staff = org.staff["community_staff"].id
    with pytest.raises(DomainError, match="未能核实的原因"):
        members.verify(session, m.id, staff, accept=False, reason="  ")
    assert m.status == "pending"
    members.verify(session, m.id, staff, accept=False, reason="未提供组织关系转接证明")
    assert m.status == "rejected"
    [job] = session.scalars(select(PendingJob).where(PendingJob.func == notify.RESIDENT_JOB))
    assert "未提供组织关系转接证明" in str(job.args)
