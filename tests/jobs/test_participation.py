"""The results job publishes closed ballots once, and leaves open ones alone; the support job ends the gathering
of proposals whose period has passed."""

from __future__ import annotations

from datetime import timedelta

from jobs import participation as participation_jobs
from models.ballot import Ballot, BallotResult
from models.micro_project import Proposal
from services.participation import ballots, proposals, supports

from ..services.participation.conftest import make_resident, open_estate_ballot


def test_closed_ballots_are_published_once(app, session, org, clock):
    ballot = open_estate_ballot(session, org, max_choices=1)
    (_, first), *_ = ballots.options(session, ballot)
    ballots.cast(session, ballot, make_resident(session, org, room="808"), [first.public_id], now=clock.now())
    session.commit()
    with app.app_context():
        assert participation_jobs.publish_closed_ballots() == 0  # still open
    clock.advance(timedelta(days=7))
    with app.app_context():
        assert participation_jobs.publish_closed_ballots() == 1
        assert participation_jobs.publish_closed_ballots() == 0
    session.expire_all()
    stored = session.get(Ballot, ballot.id)
    assert stored.published_at == clock.now()
    assert stored.voter_count == 1
    votes = {r.option_id: r.votes for r in session.query(BallotResult).filter_by(ballot_id=ballot.id)}
    assert sorted(votes.values()) == [0, 0, 1]


def test_proposals_short_of_supports_expire_when_their_period_ends(app, session, org, clock):
    supports.set_threshold(session, org.staff["community_staff"], supports_needed=5, window_days=3)
    proposal = proposals.propose(session, make_resident(session, org), title="座椅", description="d", scope="estate")
    supports.support(session, proposal, make_resident(session, org, room="102"), now=clock.now())
    session.commit()
    with app.app_context():
        assert participation_jobs.expire_unsupported_proposals() == 0  # still gathering
    clock.advance(timedelta(days=3))
    with app.app_context():
        assert participation_jobs.expire_unsupported_proposals() == 1
        assert participation_jobs.expire_unsupported_proposals() == 0
    session.expire_all()
    stored = session.get(Proposal, proposal.id)
    assert (stored.status, stored.support_count) == ("expired", 1)
