"""`hongguan seed-demo` includes an open ballot with a few projects and a council with a decision in progress."""

from __future__ import annotations

from sqlalchemy import func, select

from models.ballot import Ballot
from models.council import CouncilItem, CouncilMember
from models.micro_project import Proposal
from services import demo
from services.organisation.residents import get_by_openid
from services.participation import ballots, procedure


def test_the_demo_has_an_open_ballot_and_a_council_mid_procedure(session, clock):
    first = demo.seed_all(session)
    again = demo.seed_all(session)
    assert (first["ballots"], first["councils"], again["ballots"], again["councils"]) == (1, 1, 0, 0)
    assert session.scalar(select(func.count()).select_from(Ballot)) == 1
    resident = get_by_openid(session, demo.DEMO_RESIDENT_OPENID)  # the chat simulator's resident, 1幢 101
    (ballot,) = ballots.open_for(session, resident, now=clock.now())
    assert len(ballots.options(session, ballot)) == 3
    assert ballot.rule == "household"
    item = session.scalar(select(CouncilItem))
    assert item.status == "open"
    assert procedure.next_step(session, item) == "party_review"
    (gathering,) = session.scalars(select(Proposal).where(Proposal.status == "gathering"))
    assert (gathering.support_count, gathering.supports_needed) == (3, 10)
    kinds = set(session.scalars(select(CouncilMember.kind)))
    assert len(kinds) == 6
