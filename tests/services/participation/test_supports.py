"""Support thresholds: a proposal gathers N supports from residents of its scope within the community's period
before it reaches screening; one support per resident is held by the database, also under contention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from infra.web import get_db
from models.micro_project import Proposal, ProposalSupport
from models.resident import Resident
from services.errors import Conflict, DomainError, Forbidden
from services.participation import proposals, supports
from tests.concurrency import race

from .conftest import make_resident


def _gathering(session: Any, org: Any, needed: int = 2, days: int = 14) -> Proposal:
    supports.set_threshold(session, org.staff["community_staff"], supports_needed=needed, window_days=days)
    proposer = make_resident(session, org, room="909")
    return proposals.propose(
        session, proposer, title="楼下增设休息座椅", description="老人走累了没地方坐", scope="estate"
    )


def test_without_a_threshold_a_proposal_goes_straight_to_screening(session, org, clock):
    p = proposals.propose(session, make_resident(session, org), title="充电桩", description="d", scope="estate")
    assert (p.status, p.supports_needed, p.supports_until) == ("submitted", 0, None)


def test_n_supports_of_the_scope_within_the_period_send_it_to_screening(session, org, clock):
    p = _gathering(session, org, needed=2, days=14)
    assert p.status == "gathering"
    assert p.supports_until == clock.now() + timedelta(days=14)
    queue = list(session.scalars(proposals.for_staff(session, org.staff["community_staff"], "submitted")))
    assert p not in queue  # not in the screening queue yet
    with pytest.raises(Conflict) as early:
        proposals.screen(session, org.staff["community_staff"], p, "feasible")
    assert early.value.code == "still_gathering"
    with pytest.raises(Conflict) as own:
        supports.support(session, p, session.get(Resident, p.proposer_resident_id), now=clock.now())
    assert own.value.code == "own_proposal"
    elsewhere = make_resident(session, org, building="E-XY-1", room="101")
    with pytest.raises(Forbidden) as out:
        supports.support(session, p, elsewhere, now=clock.now())
    assert out.value.code == "not_in_scope"
    first = supports.support(session, p, make_resident(session, org, building="E-LZ-2", room="201"), now=clock.now())
    assert (first.support_count, first.reached, p.status) == (1, False, "gathering")
    fan = make_resident(session, org, building="E-LZ-3", room="301")
    second = supports.support(session, p, fan, now=clock.now())
    assert (second.support_count, second.reached, p.status) == (2, True, "submitted")
    assert supports.has_supported(session, p, fan)
    queue = list(session.scalars(proposals.for_staff(session, org.staff["community_staff"], "submitted")))
    assert p in queue
    with pytest.raises(Conflict) as late:
        supports.support(session, p, make_resident(session, org, room="401"), now=clock.now())
    assert late.value.code == "not_gathering"


def test_a_second_support_of_one_resident_is_refused_and_the_period_ends(session, org, clock):
    p = _gathering(session, org, needed=3, days=7)
    fan = make_resident(session, org, room="201")
    supports.support(session, p, fan, now=clock.now())
    with pytest.raises(Conflict) as again:
        supports.support(session, p, fan, now=clock.now())
    assert again.value.code == "already_supported"
    assert p.support_count == 1
    assert [x.id for x in supports.gathering_for(session, fan, now=clock.now())] == [p.id]
    clock.advance(timedelta(days=7))
    with pytest.raises(Conflict) as closed:
        supports.support(session, p, make_resident(session, org, room="202"), now=clock.now())
    assert closed.value.code == "support_closed"
    assert supports.gathering_for(session, fan, now=clock.now()) == []
    assert supports.expire_due(session, now=clock.now()) == 1
    session.refresh(p)
    assert p.status == "expired"


def test_threshold_values_are_checked_and_need_an_organiser(session, org):
    with pytest.raises(DomainError) as bad:
        supports.set_threshold(session, org.staff["community_staff"], supports_needed=-1, window_days=7)
    assert bad.value.code == "invalid_supports_needed"
    with pytest.raises(DomainError) as window:
        supports.set_threshold(session, org.staff["community_staff"], supports_needed=5, window_days=0)
    assert window.value.code == "invalid_window_days"
    with pytest.raises(Forbidden):
        supports.set_threshold(session, org.staff["g1_worker"], supports_needed=5, window_days=7)
    rule = supports.set_threshold(session, org.staff["secretary"], supports_needed=5, window_days=30)
    assert supports.set_threshold(session, org.staff["secretary"], supports_needed=8, window_days=10).id == rule.id
    assert (rule.supports_needed, rule.window_days) == (8, 10)


def test_the_database_refuses_a_second_support_row(session, org, clock):
    p = _gathering(session, org)
    fan = make_resident(session, org, room="201")
    session.add(ProposalSupport(proposal_id=p.id, resident_id=fan.id, created_at=clock.now()))
    session.flush()
    session.add(ProposalSupport(proposal_id=p.id, resident_id=fan.id, created_at=clock.now()))
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()


def _many_taps_from_one_resident_and_a_few_neighbours(app: Any) -> None:
    """60 concurrent supports: 50 from one resident's phone, 10 from ten neighbours; N = 20."""
    from services.demo import seed_org

    db = get_db(app)
    with db.transaction() as s:
        org = seed_org(s)
        p = _gathering(s, org, needed=20)
        fan = make_resident(s, org, room="201").id
        neighbours = [make_resident(s, org, room=f"3{i:02d}").id for i in range(10)]
        proposal_id = p.id

    def tap(s: Any, i: int) -> str:
        from infra import clock
        from models.resident import Resident

        who = fan if i < 50 else neighbours[i - 50]
        supports.support(s, s.get(Proposal, proposal_id), s.get(Resident, who), now=clock.now())
        return "counted"

    outcomes = race(db, 60, tap)
    assert outcomes.count("counted") == 11, [o for o in outcomes if o != "counted"][:3]
    assert all(isinstance(o, Conflict) and o.code == "already_supported" for o in outcomes if o != "counted")
    with db.transaction() as s:
        rows = s.scalar(select(sa.func.count()).select_from(ProposalSupport).where(ProposalSupport.resident_id == fan))
        assert rows == 1
        proposal = s.get(Proposal, proposal_id)
        assert proposal.support_count == 11
        assert proposal.status == "gathering"


def test_one_support_per_resident_under_contention_on_sqlite(app, clock):
    _many_taps_from_one_resident_and_a_few_neighbours(app)


@pytest.mark.postgres
def test_one_support_per_resident_under_contention_on_postgres(pg_app, clock):
    _many_taps_from_one_resident_and_a_few_neighbours(pg_app)
