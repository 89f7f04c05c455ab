"""Ballots: the one-ballot rule in the database, the window, the scope, max choices, secrecy, results."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from infra.web import get_db
from models.ballot import BallotChoice, BallotVoter
from services.errors import Conflict, DomainError, Forbidden
from services.participation import ballots, tally
from tests.concurrency import race

from .conftest import make_resident, open_estate_ballot


def _options(session, ballot) -> list[str]:
    return [p.public_id for _, p in ballots.options(session, ballot)]


def test_a_household_votes_once_whoever_in_it_votes(session, org, clock):
    ballot = open_estate_ballot(session, org)
    first, second = make_resident(session, org, room="301"), make_resident(session, org, room=" 301 ")
    opts = _options(session, ballot)
    ballots.cast(session, ballot, first, opts[:2], now=clock.now())
    with pytest.raises(Conflict) as refused:
        ballots.cast(session, ballot, second, opts[2:], now=clock.now())
    assert refused.value.code == "already_voted"
    assert session.scalar(select(sa.func.count()).select_from(BallotVoter)) == 1


def test_under_the_resident_rule_each_person_of_a_room_votes(session, org, clock):
    ballot = open_estate_ballot(session, org, rule="resident")
    opts = _options(session, ballot)
    for person in (make_resident(session, org, room="301"), make_resident(session, org, room="301")):
        ballots.cast(session, ballot, person, opts[:1], now=clock.now())
    assert tally.count_papers(session, ballot.id)[1] == 2


def test_a_vote_outside_the_window_is_refused(session, org, clock):
    ballot = open_estate_ballot(session, org)
    voter, opts = make_resident(session, org), _options(session, ballot)
    with pytest.raises(Conflict) as early:
        ballots.cast(session, ballot, voter, opts[:1], now=ballot.opens_at - timedelta(seconds=1))
    assert early.value.code == "ballot_not_open"
    with pytest.raises(Conflict) as late:
        ballots.cast(session, ballot, voter, opts[:1], now=ballot.closes_at)
    assert late.value.code == "ballot_closed"


def test_a_vote_from_outside_the_scope_is_refused(session, org, clock):
    ballot = open_estate_ballot(session, org)  # 绿洲花园
    other_estate = make_resident(session, org, building="E-XY-2")
    unbound = make_resident(session, org)
    unbound.building_id = None
    with pytest.raises(Forbidden) as outside:
        ballots.cast(session, ballot, other_estate, _options(session, ballot)[:1], now=clock.now())
    assert outside.value.code == "not_in_scope"
    with pytest.raises(Forbidden):
        ballots.cast(session, ballot, unbound, _options(session, ballot)[:1], now=clock.now())
    assert session.scalar(select(sa.func.count()).select_from(BallotVoter)) == 0


def test_a_household_ballot_needs_a_bound_room(session, org, clock):
    ballot = open_estate_ballot(session, org)
    with pytest.raises(Conflict) as refused:
        ballots.cast(
            session, ballot, make_resident(session, org, room=None), _options(session, ballot)[:1], now=clock.now()
        )
    assert refused.value.code == "room_required"


def test_too_many_or_unknown_choices_are_refused(session, org, clock):
    ballot = open_estate_ballot(session, org, max_choices=2)
    voter, opts = make_resident(session, org), _options(session, ballot)
    with pytest.raises(DomainError) as too_many:
        ballots.cast(session, ballot, voter, opts, now=clock.now())
    assert too_many.value.code == "too_many_choices"
    with pytest.raises(DomainError) as unknown:
        ballots.cast(session, ballot, voter, ["not-on-this-ballot"], now=clock.now())
    assert unknown.value.code == "invalid_choices"
    with pytest.raises(DomainError):
        ballots.cast(session, ballot, voter, [opts[0], opts[0]], now=clock.now())
    assert session.scalar(select(sa.func.count()).select_from(BallotVoter)) == 0


def test_results_are_refused_before_the_close_and_published_after(session, org, clock):
    ballot = open_estate_ballot(session, org, max_choices=2)
    opts = _options(session, ballot)
    picks = [opts[:2], opts[:1], opts[1:2], opts[2:], opts[:1]]
    for i, pick in enumerate(picks):
        ballots.cast(session, ballot, make_resident(session, org, room=f"{i + 1}01"), pick, now=clock.now())
    make_resident(session, org, room="999")  # eligible, does not vote
    with pytest.raises(Conflict) as early:
        tally.results(session, ballot, now=ballot.closes_at - timedelta(seconds=1))
    assert early.value.code == "results_not_published"
    assert ballot.published_at is None
    out = tally.results(session, ballot, now=ballot.closes_at)
    votes = {o["id"]: o["votes"] for o in out["options"]}
    expected = {o: sum(o in p for p in picks) for o in opts}
    assert votes == expected
    assert [o["rank"] for o in out["options"]] == [1, 2, 3]
    # 5 voting rooms, the room-909 proposer and room 999 (the blank-room residents are not households).
    assert (out["voters"], out["eligible"]) == (5, 7)
    assert out["turnout"] == round(5 / 7, 4)
    again = tally.recount(session, ballot)
    assert again.matches
    assert again.papers == again.voters == 5
    assert {o: again.counts[o_id] for o_id, o in _option_ids(session, ballot).items()} == expected


def _option_ids(session, ballot) -> dict[int, str]:
    return {o.id: p.public_id for o, p in ballots.options(session, ballot)}


def test_a_tampered_paper_makes_the_recount_disagree(session, org, clock):
    ballot = open_estate_ballot(session, org, max_choices=1)
    opts = _options(session, ballot)
    ballots.cast(session, ballot, make_resident(session, org, room="101"), opts[:1], now=clock.now())
    tally.publish(session, ballot, now=ballot.closes_at)
    assert tally.recount(session, ballot).matches
    session.execute(sa.delete(BallotChoice).where(BallotChoice.ballot_id == ballot.id))
    assert not tally.recount(session, ballot).matches


def test_the_papers_carry_no_voter_no_time_and_no_sequence(session, org, clock):
    ballot = open_estate_ballot(session, org)
    ballots.cast(session, ballot, make_resident(session, org), _options(session, ballot)[:2], now=clock.now())
    assert set(BallotChoice.__table__.columns.keys()) == {"ballot_id", "paper", "option_id"}
    assert set(BallotVoter.__table__.columns.keys()) == {"id", "ballot_id", "voter_key", "resident_id"}
    papers = set(session.scalars(select(BallotChoice.paper)))
    voter_ids = set(session.scalars(select(BallotVoter.id)))
    assert len(papers) == 1
    assert papers.isdisjoint(voter_ids)


def test_only_feasible_proposals_of_the_scope_go_on_a_ballot(session, org, clock):
    from .conftest import feasible_proposals

    other_estate = feasible_proposals(session, org, ["星苑健身角"], building="E-XY-1")
    with pytest.raises(DomainError) as refused:
        ballots.open_ballot(
            session, org.staff["community_staff"], title="t", scope="estate", estate_id=org.estates["E-LZ"].id,
            proposal_ids=[other_estate[0].public_id], opens_at=clock.now(), closes_at=clock.now() + timedelta(days=1),
            rule="household",
        )  # fmt: skip
    assert refused.value.code == "proposal_out_of_scope"
    with pytest.raises(Forbidden):
        ballots.open_ballot(
            session, org.staff["g1_worker"], title="t", scope="community", proposal_ids=[other_estate[0].public_id],
            opens_at=clock.now(), closes_at=clock.now() + timedelta(days=1), rule="household",
        )  # fmt: skip


def _two_hundred_votes_from_one_household(app: Any) -> None:
    from services.demo import seed_org

    db = get_db(app)
    with db.transaction() as s:
        org = seed_org(s)
        ballot = open_estate_ballot(s, org, max_choices=1)
        # Four people of room 502 vote from their phones, 50 taps each, all at once.
        family = [make_resident(s, org, room="502").id for _ in range(4)]
        ballot_id, opts = ballot.id, [p.public_id for _, p in ballots.options(s, ballot)]

    def vote(s: Any, i: int) -> str:
        from infra import clock
        from models.ballot import Ballot
        from models.resident import Resident

        b = s.get(Ballot, ballot_id)
        ballots.cast(s, b, s.get(Resident, family[i % 4]), [opts[i % 3]], now=clock.now())
        return "counted"

    outcomes = race(db, 200, vote)
    assert outcomes.count("counted") == 1, [o for o in outcomes if o != "counted"][:3]
    assert all(isinstance(o, Conflict) and o.code == "already_voted" for o in outcomes if o != "counted")
    with db.transaction() as s:
        assert s.scalar(select(sa.func.count()).select_from(BallotVoter)) == 1
        assert tally.count_papers(s, ballot_id)[1] == 1
        assert s.scalar(select(sa.func.count()).select_from(BallotChoice)) == 1


def test_200_concurrent_votes_from_one_household_count_once_on_sqlite(app, clock):
    _two_hundred_votes_from_one_household(app)


@pytest.mark.postgres
def test_200_concurrent_votes_from_one_household_count_once_on_postgres(pg_app, clock):
    _two_hundred_votes_from_one_household(pg_app)


def test_the_database_refuses_a_second_voter_row_for_one_household(session, org, clock):
    ballot = open_estate_ballot(session, org)
    session.add(BallotVoter(ballot_id=ballot.id, voter_key="h:1:101"))
    session.flush()
    session.add(BallotVoter(ballot_id=ballot.id, voter_key="h:1:101"))
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()


def _papers_in_storage_order(app: Any) -> tuple[list[str], list[str]]:
    """Cast 30 single-choice votes; the papers in physical order before and after publication."""
    from services.demo import seed_org

    db = get_db(app)
    with db.transaction() as s:
        org = seed_org(s)
        ballot = open_estate_ballot(s, org, max_choices=1)
        opts = [p.public_id for _, p in ballots.options(s, ballot)]
        for i in range(30):
            ballots.cast(s, ballot, make_resident(s, org, room=f"s{i}"), [opts[i % 3]], now=ballot.opens_at)
        ballot_id = ballot.id
    physical = (
        "SELECT paper FROM ballot_choice WHERE ballot_id = :b ORDER BY ctid"
        if db.is_postgres
        else "SELECT paper FROM ballot_choice WHERE ballot_id = :b"  # a scan of the WITHOUT ROWID b-tree
    )
    with db.transaction() as s:
        before = list(s.scalars(sa.text(physical), {"b": ballot_id}))
        from models.ballot import Ballot

        b = s.get(Ballot, ballot_id)
        tally.publish(s, b, now=b.closes_at)
    with db.transaction() as s:
        after = list(s.scalars(sa.text(physical), {"b": ballot_id}))
        assert tally.recount(s, s.get(Ballot, ballot_id)).matches
    return before, after


def test_sqlite_keeps_papers_in_random_key_order_not_voting_order(app, clock):
    before, after = _papers_in_storage_order(app)
    assert before == sorted(before)
    assert after == before


@pytest.mark.postgres
def test_postgres_papers_are_rewritten_in_random_key_order_at_publication(pg_app, clock):
    before, after = _papers_in_storage_order(pg_app)
    assert before != sorted(before)  # the heap follows the voting order until publication
    assert after == sorted(before)
