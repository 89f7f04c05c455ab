"""Ballots: staff open one on feasible proposals; verified residents of its scope vote once, in secret.

The one-ballot rule is the database's: `ballot_voter` has UNIQUE(ballot_id, voter_key), where voter_key is the
household ("h:<building>:<room>", the bound room) or the resident ("r:<id>") as the ballot's rule says. A vote
inserts its voter row with INSERT … ON CONFLICT DO NOTHING; when no row was inserted the household (or person)
has already voted and nothing else is written, however many requests race (PostgreSQL blocks the second insert
on the first's uncommitted key, SQLite serialises the transactions with BEGIN IMMEDIATE).

Secrecy: who voted and what was chosen are stored apart and cannot be re-linked from the data.
- `ballot_voter` says that a key has voted: a random primary key, no time, no choice.
- `ballot_choice` holds the paper: one row per chosen option under a fresh random paper key, with no voter, no
  time and no sequence number. Its primary key is (ballot, paper, option) and on SQLite the table is WITHOUT
  ROWID, so rows are kept in random-key order, not in insertion order; there is no autoincrement on either side
  to line up.
- On PostgreSQL a new row's physical position (ctid) follows insertion, which only a database superuser can
  read; publication rewrites the ballot's papers in random-key order (`services.participation.tally`), so even
  that trace is gone once the results are out.
Staff see counts and turnout after the close, never a voter's choice; nobody sees partial counts before.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models.ballot import BALLOT_RULES, Ballot, BallotChoice, BallotOption, BallotVoter
from models.micro_project import Proposal
from models.org import Building
from models.resident import Resident
from models.staff import Staff
from services.errors import Conflict, DomainError, Forbidden, NotFound
from services.participation import proposals as proposal_service
from services.participation import scope as scopes

MAX_OPTIONS = 50


def scope_of(ballot: Ballot) -> scopes.Scope:
    """The ballot's scope."""
    return scopes.Scope(ballot.community_id, ballot.scope, ballot.estate_id, ballot.building_id)


def open_ballot(
    session: Session,
    staff: Staff,
    *,
    title: str,
    scope: str,
    estate_id: int | None = None,
    building_id: int | None = None,
    proposal_ids: list[str],
    opens_at: datetime,
    closes_at: datetime,
    rule: str,
    max_choices: int = 1,
) -> Ballot:
    """Put feasible proposals of the ballot's scope to the vote of its residents within [opens_at, closes_at)."""
    community_id = scopes.check_organiser(staff)
    where = scopes.resolve(session, community_id, scope, estate_id=estate_id, building_id=building_id)
    if rule not in BALLOT_RULES:
        raise DomainError("投票规则只能是 household（每户一票）或 resident（每人一票）", code="invalid_rule")
    if closes_at <= opens_at:
        raise DomainError("截止时间必须晚于开始时间", code="invalid_window")
    if not title.strip():
        raise DomainError("请填写投票名称", code="invalid_title")
    if not proposal_ids or len(set(proposal_ids)) != len(proposal_ids) or len(proposal_ids) > MAX_OPTIONS:
        raise DomainError(f"请列出 1 到 {MAX_OPTIONS} 个不重复的提议", code="invalid_options")
    if not 1 <= max_choices <= len(proposal_ids):
        raise DomainError("每张选票可选项目数须在 1 和项目数之间", code="invalid_max_choices")
    chosen: list[Proposal] = []
    for public_id in proposal_ids:
        proposal = proposal_service.get_for_staff(session, staff, public_id, for_update=True)
        if proposal.status != "feasible":
            raise Conflict(f"提议「{proposal.title}」不是可行状态，不能上票", code="proposal_not_feasible")
        if not scopes.within(proposal_service.scope_of(proposal), where):
            raise DomainError(f"提议「{proposal.title}」不在这次投票的范围内", code="proposal_out_of_scope")
        chosen.append(proposal)
    ballot = Ballot(
        community_id=community_id,
        scope=where.scope,
        estate_id=where.estate_id,
        building_id=where.building_id,
        title=title.strip(),
        opens_at=opens_at,
        closes_at=closes_at,
        rule=rule,
        max_choices=max_choices,
        created_by_staff_id=staff.id,
    )
    session.add(ballot)
    session.flush()
    for position, proposal in enumerate(chosen):
        session.add(BallotOption(ballot_id=ballot.id, proposal_id=proposal.id, position=position))
        proposal.status = "on_ballot"
    session.flush()
    return ballot


def get(session: Session, public_id: str) -> Ballot:
    """A ballot by public id (404 if none)."""
    ballot = session.scalar(select(Ballot).where(Ballot.public_id == public_id))
    if ballot is None:
        raise NotFound("没有这次投票")
    return ballot


def get_for_resident(session: Session, public_id: str, resident: Resident) -> Ballot:
    """A ballot of the resident's scope (404 otherwise: outside the scope looks the same as missing)."""
    ballot = get(session, public_id)
    if not scopes.contains(session, scope_of(ballot), resident):
        raise NotFound("没有这次投票")
    return ballot


def get_for_staff(session: Session, staff: Staff, public_id: str) -> Ballot:
    """A ballot of the staff member's community (404 otherwise)."""
    ballot = get(session, public_id)
    if ballot.community_id != staff.community_id:
        raise NotFound("您的社区里没有这次投票")
    return ballot


def for_staff(staff: Staff) -> Select[tuple[Ballot]]:
    """Ballots of the staff member's community, newest first."""
    return (
        select(Ballot)
        .where(Ballot.community_id == staff.community_id)
        .order_by(Ballot.opens_at.desc(), Ballot.id.desc())
    )


def options(session: Session, ballot: Ballot) -> list[tuple[BallotOption, Proposal]]:
    """The ballot's options with their proposals, in ballot order."""
    rows = session.execute(
        select(BallotOption, Proposal)
        .join(Proposal, Proposal.id == BallotOption.proposal_id)
        .where(BallotOption.ballot_id == ballot.id)
        .order_by(BallotOption.position, BallotOption.id)
    )
    return [(o, p) for o, p in rows]


def household_key(building_id: int, room: str) -> str:
    """The voter key of a household: its building and room, with the room's spacing and case normalised."""
    return f"h:{building_id}:{''.join(room.split()).upper()}"


def voter_key(session: Session, ballot: Ballot, resident: Resident) -> str:
    """The key under which this resident's vote counts (403 outside the scope, 409 without a bound room)."""
    if not scopes.contains(session, scope_of(ballot), resident):
        raise Forbidden("您不在这次投票的范围内（请先绑定本楼栋/小区的住址）", code="not_in_scope")
    if ballot.rule == "resident":
        return f"r:{resident.id}"
    if resident.building_id is None or not (resident.room or "").strip():
        raise Conflict("这次投票每户一票：请先绑定您的房号", code="room_required")
    return household_key(resident.building_id, resident.room or "")


def is_open(ballot: Ballot, now: datetime) -> bool:
    """True inside the voting window."""
    return ballot.opens_at <= now < ballot.closes_at


def has_voted(session: Session, ballot: Ballot, resident: Resident) -> bool:
    """True when the resident's household (or the resident) has voted on this ballot."""
    try:
        key = voter_key(session, ballot, resident)
    except (Forbidden, Conflict):
        return False
    found = session.scalar(
        select(BallotVoter.id).where(BallotVoter.ballot_id == ballot.id, BallotVoter.voter_key == key)
    )
    return found is not None


def cast(session: Session, ballot: Ballot, resident: Resident, choices: list[str], *, now: datetime) -> None:
    """Cast the resident's ballot: 1 … max_choices distinct proposals of the ballot, inside the window, once."""
    if now < ballot.opens_at:
        raise Conflict("投票还没有开始", code="ballot_not_open")
    if now >= ballot.closes_at:
        raise Conflict("投票已经截止", code="ballot_closed")
    key = voter_key(session, ballot, resident)
    if not choices or len(set(choices)) != len(choices):
        raise DomainError("请选择至少一个项目，且不要重复", code="invalid_choices")
    if len(choices) > ballot.max_choices:
        raise DomainError(f"每张选票最多选 {ballot.max_choices} 个项目", code="too_many_choices")
    by_public_id = {p.public_id: o.id for o, p in options(session, ballot)}
    unknown = [c for c in choices if c not in by_public_id]
    if unknown:
        raise DomainError("所选项目不在这张选票上", code="invalid_choices", details={"unknown": unknown})
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    inserted = session.execute(
        insert(BallotVoter)
        .values(id=secrets.token_hex(16), ballot_id=ballot.id, voter_key=key, resident_id=resident.id)
        .on_conflict_do_nothing(index_elements=["ballot_id", "voter_key"])
        .returning(BallotVoter.id)
    ).scalar()
    if inserted is None:
        raise Conflict("您家已经投过票了" if ballot.rule == "household" else "您已经投过票了", code="already_voted")
    paper = secrets.token_hex(16)
    session.execute(
        insert(BallotChoice),
        [{"ballot_id": ballot.id, "paper": paper, "option_id": by_public_id[c]} for c in sorted(choices)],
    )


def open_for(session: Session, resident: Resident, *, now: datetime) -> list[Ballot]:
    """Ballots open now in the resident's building, estate or community (closing soonest first)."""
    if resident.erased_at is not None or resident.community_id is None or resident.building_id is None:
        return []
    return [
        b
        for b in session.scalars(_open_in_community(resident.community_id, now))
        if scopes.contains(session, scope_of(b), resident)
    ]


def _open_in_community(community_id: int, now: datetime) -> Select[tuple[Ballot]]:
    return (
        select(Ballot)
        .where(Ballot.community_id == community_id, Ballot.opens_at <= now, Ballot.closes_at > now)
        .order_by(Ballot.closes_at, Ballot.id)
    )


def visible_to(session: Session, resident: Resident) -> list[Ballot]:
    """Every ballot of the resident's scope, newest first."""
    if resident.community_id is None:
        return []
    stmt = select(Ballot).where(Ballot.community_id == resident.community_id).order_by(Ballot.opens_at.desc())
    return [b for b in session.scalars(stmt) if scopes.contains(session, scope_of(b), resident)]


def view(session: Session, ballot: Ballot, *, now: datetime) -> dict[str, Any]:
    """A ballot as the APIs show it: window, rule, options (never partial counts)."""
    building = session.get(Building, ballot.building_id) if ballot.building_id else None
    return {
        "id": ballot.public_id,
        "title": ballot.title,
        "scope": ballot.scope,
        "estate_id": ballot.estate_id,
        "building_id": building.id if building else None,
        "rule": ballot.rule,
        "max_choices": ballot.max_choices,
        "opens_at": ballot.opens_at,
        "closes_at": ballot.closes_at,
        "status": "upcoming" if now < ballot.opens_at else "open" if now < ballot.closes_at else "closed",
        "published": ballot.published_at is not None,
        "options": [
            {"id": p.public_id, "title": p.title, "description": p.description, "rough_cost_yuan": p.rough_cost_yuan}
            for _, p in options(session, ballot)
        ],
    }
