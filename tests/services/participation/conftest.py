"""Helpers for the participation tests: bound residents, screened proposals, an open ballot."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from infra import clock
from models.ballot import Ballot
from models.micro_project import Proposal
from models.resident import Resident
from services.participation import ballots, proposals

_n = itertools.count()


def make_resident(session: Session, org: Any, building: str = "E-LZ-1", room: str | None = "101") -> Resident:
    """A resident bound to `building` (a demo building key) and `room`."""
    b = org.buildings[building]
    person = Resident(
        openid=f"o-part-{next(_n)}",
        subscribed=True,
        community_id=org.community.id,
        grid_id=b.grid_id,
        building_id=b.id,
        room=room,
    )
    session.add(person)
    session.flush()
    return person


def feasible_proposals(session: Session, org: Any, titles: list[str], building: str = "E-LZ-1") -> list[Proposal]:
    """Proposals for `building`'s estate, screened feasible by the community worker."""
    proposer = make_resident(session, org, building, room="909")
    made = []
    for title in titles:
        p = proposals.propose(
            session, proposer, title=title, description=f"{title}：居民提议", scope="estate", rough_cost_yuan=5000
        )
        proposals.screen(session, org.staff["community_staff"], p, "feasible")
        made.append(p)
    return made


def open_estate_ballot(
    session: Session, org: Any, *, rule: str = "household", max_choices: int = 2, titles: list[str] | None = None
) -> Ballot:
    """A ballot on 绿洲花园 open from now for a week."""
    items = feasible_proposals(session, org, titles or ["加装电梯扶手", "增设充电桩", "楼道灯改造"])
    now = clock.now()
    return ballots.open_ballot(
        session,
        org.staff["community_staff"],
        title="绿洲花园微实事投票",
        scope="estate",
        estate_id=org.estates["E-LZ"].id,
        proposal_ids=[p.public_id for p in items],
        opens_at=now,
        closes_at=now + timedelta(days=7),
        rule=rule,
        max_choices=max_choices,
    )


@pytest.fixture
def resident_factory(session: Session, org: Any) -> Callable[..., Resident]:
    """Make a bound resident: resident_factory(building="E-LZ-1", room="101")."""

    def make(building: str = "E-LZ-1", room: str | None = "101") -> Resident:
        return make_resident(session, org, building, room)

    return make
