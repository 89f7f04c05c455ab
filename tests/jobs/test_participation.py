"""The results job publishes closed ballots once, and leaves open ones alone."""

from __future__ import annotations

from datetime import timedelta

from jobs import participation as participation_jobs
from models.ballot import Ballot, BallotResult
from services.participation import ballots

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
