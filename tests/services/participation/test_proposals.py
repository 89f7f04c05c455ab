"""Proposals: a resident proposes for their own scope; staff screen (feasible / merged / declined with reason)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.outbox import PendingJob
from services.errors import Conflict, DomainError, Forbidden
from services.notifications.notify import RESIDENT_JOB
from services.participation import proposals

from .conftest import make_resident


def test_a_resident_proposes_for_their_building_estate_or_community(session, org):
    resident = make_resident(session, org, building="E-LZ-4")
    b = proposals.propose(session, resident, title="楼道扶手", description="老人上下楼不便", photos=["https://i/1.jpg"])
    e = proposals.propose(session, resident, title="小区健身角", description="增设器材", scope="estate")
    c = proposals.propose(session, resident, title="社区读书角", description="周末开放", scope="community")
    assert (b.building_id, b.estate_id) == (org.buildings["E-LZ-4"].id, org.estates["E-LZ"].id)
    assert (e.building_id, e.estate_id) == (None, org.estates["E-LZ"].id)
    assert (c.building_id, c.estate_id, c.community_id) == (None, None, org.community.id)
    assert b.status == "submitted"
    assert b.photos == ["https://i/1.jpg"]
    # A resident of another estate sees the community's proposal only (and their own).
    other = make_resident(session, org, building="E-XY-1")
    assert [p.title for p in session.scalars(proposals.visible_to(session, other))] == ["社区读书角"]


def test_an_unbound_resident_cannot_propose(session, org):
    resident = make_resident(session, org)
    resident.building_id = None
    with pytest.raises(Conflict) as refused:
        proposals.propose(session, resident, title="t", description="d")
    assert refused.value.code == "not_bound"


def test_screening_feasible_merged_declined(session, org):
    staff = org.staff["community_staff"]
    resident = make_resident(session, org)
    a, b, c = (proposals.propose(session, resident, title=t, description="d") for t in ("充电桩", "充电车棚", "喷泉"))
    proposals.screen(session, staff, a, "feasible")
    proposals.screen(session, staff, b, "merged", merged_into=a, reason="与充电桩合并")
    with pytest.raises(DomainError) as no_reason:
        proposals.screen(session, staff, c, "declined")
    assert no_reason.value.code == "reason_required"
    proposals.screen(session, staff, c, "declined", reason="维护费用过高")
    assert (a.status, b.status, b.merged_into_id, c.status) == ("feasible", "merged", a.id, "declined")
    assert c.screening_reason == "维护费用过高"
    assert c.screened_by_staff_id == staff.id
    with pytest.raises(Conflict):
        proposals.screen(session, staff, a, "declined", reason="again")
    told = [j.args[1] for j in session.scalars(select(PendingJob).where(PendingJob.func == RESIDENT_JOB))]
    assert len(told) == 3
    assert all(j.startswith("您提议的微实事") for j in told)
    assert "暂不采纳：维护费用过高" in told[2]


def test_only_organisers_of_the_community_screen(session, org):
    p = proposals.propose(session, make_resident(session, org), title="t", description="d")
    with pytest.raises(Forbidden):
        proposals.screen(session, org.staff["pc_lh"], p, "feasible")
    with pytest.raises(DomainError) as self_merge:
        proposals.screen(session, org.staff["secretary"], p, "merged", merged_into=p)
    assert self_merge.value.code == "invalid_merge_target"
