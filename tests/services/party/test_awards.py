"""Monthly awards: candidates from the ledger and 先锋日志 per community, staff approve, published as a notice."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Resident
from models.notice import Notice
from services.errors import DomainError, Forbidden, InvalidTransition
from services.party import awards
from services.points import ledger as points


def test_candidates_are_ranked_from_the_ledger_then_approved_and_published(session, org, clock):
    people = []
    for name, earned in (("张三", 30), ("李四", 50), ("王五", 10)):
        r = Resident(name=name, community_id=org.community.id, grid_id=org.grids["G1"].id, is_volunteer=True)
        session.add(r)
        session.flush()
        points.post(
            session, r.id, earned, kind="earn", source_type="manual", source_id=None, idempotency_key=f"a-{r.id}"
        )
        people.append(r)
    # Spending does not lower a month's merit.
    points.post(session, people[1].id, -40, kind="spend", source_type="manual", source_id=None, idempotency_key="s")
    staff = org.staff["community_staff"].id
    period = points.season_key()
    with pytest.raises(Forbidden):
        awards.compute_candidates(session, org.staff["g1_leader"].id, org.community.id, period)
    ranked = awards.compute_candidates(session, staff, org.community.id, period, top=2)
    assert [(c.rank, c.resident_id, c.points) for c in ranked] == [(1, people[1].id, 50), (2, people[0].id, 30)]
    again = awards.compute_candidates(session, staff, org.community.id, period, top=2)  # a recompute replaces
    with pytest.raises(DomainError):
        awards.approve_and_publish(session, staff, again[0].round_id, [])
    notice = awards.approve_and_publish(session, staff, again[0].round_id, [again[0].id])
    stored = session.scalar(select(Notice).where(Notice.id == notice.id))
    assert "月志愿服务先进" in stored.title
    assert "李*（50 分）" in stored.body
    assert "张" not in stored.body  # not approved: not published
    with pytest.raises(InvalidTransition):
        awards.compute_candidates(session, staff, org.community.id, period)
