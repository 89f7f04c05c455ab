"""Funded projects: the yearly budget cap (database-enforced, raced), progress to completion, who sees them."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from infra.web import get_db
from models.micro_project import CommunityBudget, MicroProject
from services.errors import Conflict
from services.participation import ballots, projects, tally
from tests.concurrency import race

from .conftest import feasible_proposals, make_resident, open_estate_ballot


def test_funding_stays_within_the_yearly_cap(session, org, clock):
    staff = org.staff["community_staff"]
    a, b, c = feasible_proposals(session, org, ["休闲座椅", "晾衣架", "宣传栏"])
    with pytest.raises(Conflict) as no_budget:
        projects.fund(session, staff, a, budget_yuan=1000, year=2026)
    assert no_budget.value.code == "no_budget"
    projects.set_budget(session, staff, year=2026, cap_yuan=10_000)
    projects.fund(session, staff, a, budget_yuan=6000, year=2026)
    with pytest.raises(Conflict) as over:
        projects.fund(session, staff, b, budget_yuan=4001, year=2026)
    assert over.value.code == "budget_exceeded"
    projects.fund(session, staff, b, budget_yuan=4000, year=2026)
    projects.set_budget(session, staff, year=2027, cap_yuan=500)  # another year has its own cap
    projects.fund(session, staff, c, budget_yuan=500, year=2027)
    with pytest.raises(Conflict) as lower:
        projects.set_budget(session, staff, year=2026, cap_yuan=9_999)
    assert lower.value.code == "cap_below_committed"


def test_the_database_refuses_a_commitment_above_the_cap(session, org):
    session.add(CommunityBudget(community_id=org.community.id, year=2026, cap_yuan=100, committed_yuan=101))
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()


def test_a_proposal_on_a_ballot_is_funded_only_after_the_results(session, org, clock):
    staff = org.staff["community_staff"]
    projects.set_budget(session, staff, year=2026, cap_yuan=100_000)
    ballot = open_estate_ballot(session, org, max_choices=1)
    (_, first), *_ = ballots.options(session, ballot)
    with pytest.raises(Conflict) as early:
        projects.fund(session, staff, first, budget_yuan=1000, year=2026)
    assert early.value.code == "ballot_not_published"
    tally.publish(session, ballot, now=ballot.closes_at)
    project = projects.fund(session, staff, first, budget_yuan=1000, year=2026)
    assert first.status == "funded"
    with pytest.raises(Conflict):
        projects.fund(session, staff, first, budget_yuan=1000, year=2026)
    assert project.status == "funded"


def test_progress_reports_lead_to_completion_and_residents_of_the_scope_see_them(session, org, clock):
    staff = org.staff["community_staff"]
    projects.set_budget(session, staff, year=2026, cap_yuan=100_000)
    (proposal,) = feasible_proposals(session, org, ["小区门口无障碍坡道"])  # 绿洲花园 estate
    project = projects.fund(session, staff, proposal, budget_yuan=8000, year=2026)
    projects.report_progress(session, staff, project, note="材料进场", progress_percent=30, spent_yuan=2000)
    with pytest.raises(Conflict):
        projects.report_progress(session, staff, project, note="回退", progress_percent=10)
    projects.report_progress(
        session, staff, project, note="完工验收", progress_percent=100, spent_yuan=7800, photos=["https://img/1.jpg"]
    )
    assert project.status == "completed"
    assert project.completed_at == clock.now()
    neighbour = make_resident(session, org, building="E-LZ-5")  # same estate, other building
    outsider = make_resident(session, org, building="E-XY-1")
    seen = projects.view(session, projects.get_for_resident(session, neighbour, project.public_id), with_updates=True)
    assert [u["progress_percent"] for u in seen["updates"]] == [30, 100]
    assert seen["spent_yuan"] == 7800
    assert seen["updates"][1]["photos"] == ["https://img/1.jpg"]
    assert list(session.scalars(projects.visible_to(session, outsider))) == []


def _concurrent_funding_respects_the_cap(app: Any) -> None:
    from services.demo import seed_org

    db = get_db(app)
    with db.transaction() as s:
        org = seed_org(s)
        staff = org.staff["community_staff"]
        projects.set_budget(s, staff, year=2026, cap_yuan=10_000)
        ids = [p.id for p in feasible_proposals(s, org, [f"项目{i}" for i in range(12)])]
        staff_id = staff.id

    def fund(s: Any, i: int) -> int:
        from models.micro_project import Proposal
        from models.staff import Staff

        return projects.fund(s, s.get(Staff, staff_id), s.get(Proposal, ids[i]), budget_yuan=3000, year=2026).id

    results = race(db, 12, fund)
    funded = [r for r in results if isinstance(r, int)]
    assert len(funded) == 3, results
    assert all(isinstance(r, Conflict) and r.code == "budget_exceeded" for r in results if not isinstance(r, int))
    with db.transaction() as s:
        assert s.scalar(select(CommunityBudget.committed_yuan)) == 9000
        assert s.scalar(select(sa.func.sum(MicroProject.budget_yuan))) == 9000


def test_concurrent_funding_respects_the_cap_on_sqlite(app, clock):
    _concurrent_funding_respects_the_cap(app)


@pytest.mark.postgres
def test_concurrent_funding_respects_the_cap_on_postgres(pg_app, clock):
    _concurrent_funding_respects_the_cap(pg_app)
