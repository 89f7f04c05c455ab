"""Counting a ballot: results (counts per project, turnout) exist only after the window closes.

Publication happens once, at the first look after the close (the results job or a resident opening them),
under a lock on the ballot row: it counts the papers, snapshots how many households or residents could have
voted, stores one `ballot_result` row per option, and rewrites the papers in random-key order (see
`services.participation.ballots` on secrecy). `recount` counts the stored papers again and compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from models.ballot import Ballot, BallotChoice, BallotOption, BallotResult, BallotVoter
from services.errors import Conflict
from services.participation import ballots as ballot_service
from services.participation import scope as scopes


@dataclass(frozen=True)
class Recount:
    """A recount of the stored papers against the published results."""

    counts: dict[int, int]  # option id → votes counted now
    papers: int
    voters: int
    matches: bool


def count_papers(session: Session, ballot_id: int) -> tuple[dict[int, int], int]:
    """Votes per option and the number of papers, counted from the stored papers."""
    counts = dict.fromkeys(session.scalars(select(BallotOption.id).where(BallotOption.ballot_id == ballot_id)), 0)
    rows = session.execute(
        select(BallotChoice.option_id, func.count())
        .where(BallotChoice.ballot_id == ballot_id)
        .group_by(BallotChoice.option_id)
    )
    for option_id, votes in rows:
        counts[option_id] = votes
    papers = session.scalar(
        select(func.count(func.distinct(BallotChoice.paper))).where(BallotChoice.ballot_id == ballot_id)
    )
    return counts, papers or 0


def eligible_count(session: Session, ballot: Ballot) -> int:
    """How many could vote: distinct bound rooms (household rule) or verified residents (resident rule)."""
    eligible = scopes.residents_in(ballot_service.scope_of(ballot)).subquery()
    if ballot.rule == "resident":
        return session.scalar(select(func.count()).select_from(eligible)) or 0
    rooms = (
        select(eligible.c.building_id, func.upper(func.replace(eligible.c.room, " ", "")))
        .where(eligible.c.room.is_not(None), func.trim(eligible.c.room) != "")
        .distinct()
        .subquery()
    )
    return session.scalar(select(func.count()).select_from(rooms)) or 0


def _shuffle_papers(session: Session, ballot_id: int) -> None:
    """Rewrite the ballot's papers in random-key order, so no physical trace of the voting order is left.

    PostgreSQL only: its heap keeps rows roughly in insertion order; SQLite's WITHOUT ROWID table is already
    kept in key order. One statement moves the rows (DELETE … RETURNING feeding an ordered INSERT).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text(
            "WITH gone AS (DELETE FROM ballot_choice WHERE ballot_id = :ballot RETURNING ballot_id, paper, option_id) "
            "INSERT INTO ballot_choice (ballot_id, paper, option_id) "
            "SELECT ballot_id, paper, option_id FROM gone ORDER BY paper, option_id"
        ),
        {"ballot": ballot_id},
    )


def publish(session: Session, ballot: Ballot, *, now: datetime) -> Ballot:
    """Publish the results of a closed ballot (once; 409 before the close)."""
    if now < ballot.closes_at:
        raise Conflict("投票截止后才公布结果", code="results_not_published")
    if ballot.published_at is not None:
        return ballot
    locked = session.scalar(select(Ballot).where(Ballot.id == ballot.id).with_for_update())
    assert locked is not None
    session.refresh(locked)
    if locked.published_at is not None:
        return locked
    counts, _papers = count_papers(session, ballot.id)
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    rank, previous = 0, None
    for position, (option_id, votes) in enumerate(order, start=1):
        if votes != previous:
            rank, previous = position, votes
        session.add(BallotResult(ballot_id=ballot.id, option_id=option_id, votes=votes, rank=rank))
    locked.voter_count = (
        session.scalar(select(func.count()).select_from(BallotVoter).where(BallotVoter.ballot_id == ballot.id)) or 0
    )
    locked.eligible_count = eligible_count(session, locked)
    locked.published_at = now
    _shuffle_papers(session, ballot.id)
    session.flush()
    return locked


def results(session: Session, ballot: Ballot, *, now: datetime) -> dict[str, Any]:
    """The published results: counts and rank per project, voters, eligible and turnout (409 before the close)."""
    ballot = publish(session, ballot, now=now)
    proposals = {o.id: p for o, p in ballot_service.options(session, ballot)}
    rows = session.scalars(
        select(BallotResult).where(BallotResult.ballot_id == ballot.id).order_by(BallotResult.rank, BallotResult.id)
    )
    voters, eligible = ballot.voter_count or 0, ballot.eligible_count or 0
    return {
        "ballot": ballot.public_id,
        "rule": ballot.rule,
        "published_at": ballot.published_at,
        "voters": voters,
        "eligible": eligible,
        "turnout": round(voters / eligible, 4) if eligible else 0.0,
        "options": [
            {
                "id": proposals[r.option_id].public_id,
                "title": proposals[r.option_id].title,
                "votes": r.votes,
                "rank": r.rank,
            }
            for r in rows
        ],
    }


def recount(session: Session, ballot: Ballot) -> Recount:
    """Count the stored papers again: do they match the published counts, and one paper per voter?"""
    counts, papers = count_papers(session, ballot.id)
    voters = session.scalar(select(func.count()).select_from(BallotVoter).where(BallotVoter.ballot_id == ballot.id))
    published = {
        option_id: votes
        for option_id, votes in session.execute(
            select(BallotResult.option_id, BallotResult.votes).where(BallotResult.ballot_id == ballot.id)
        )
    }
    matches = papers == voters and (ballot.published_at is None or published == counts)
    if ballot.published_at is not None and ballot.voter_count != voters:
        matches = False
    return Recount(counts=counts, papers=papers, voters=voters or 0, matches=matches)


def publish_due(session: Session, *, now: datetime) -> list[int]:
    """Publish every ballot that has closed and is not yet published; the ids published."""
    due = list(session.scalars(select(Ballot).where(Ballot.closes_at <= now, Ballot.published_at.is_(None))))
    for ballot in due:
        publish(session, ballot, now=now)
    return [b.id for b in due]
