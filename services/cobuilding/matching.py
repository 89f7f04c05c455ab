"""Suggest resources for a need: candidates from the database (orderable now, serving the need's community,
available by the date it is wanted), ranked by `nlp.cobuilding` on their text, the kind the need asks for
counted in; each suggestion shows the shared words as its reason."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from infra import clock
from models.cobuilding import CobuildingNeed, CobuildingResource, CobuildingResourceCommunity, CobuildingUnit
from models.staff import Staff
from nlp.cobuilding import ResourceIndex
from services.cobuilding import needs, resources

KIND_BOOST = 1.25  # the need names the kind of resource it wants (场地, 资金 …)


CANDIDATE_COLUMNS = (
    CobuildingResource.id,
    CobuildingResource.kind,
    CobuildingResource.title,
    CobuildingResource.description,
    CobuildingResource.unit_id,
    CobuildingResource.capacity,
    CobuildingResource.reserved,
)


def candidates(session: Session, need: CobuildingNeed, now: datetime) -> list[Row[Any]]:
    """Resources that could meet the need: orderable now, serving its community, available by its date (plain
    rows of the columns ranking needs: loading 500 full objects per suggestion cost more than ranking them)."""
    served = select(CobuildingResourceCommunity.resource_id).where(
        CobuildingResourceCommunity.community_id == need.community_id
    )
    stmt = resources.orderable(select(*CANDIDATE_COLUMNS), now).where(CobuildingResource.id.in_(served))
    if need.wanted_by is not None:
        by = datetime.combine(need.wanted_by, time.max, tzinfo=UTC)
        stmt = stmt.where(CobuildingResource.available_from <= by)
    return list(session.execute(stmt.order_by(CobuildingResource.id)))


def suggest_for(session: Session, need: CobuildingNeed, *, limit: int = 3) -> list[dict[str, Any]]:
    """The best `limit` resources for a need, with score and reason (the shared keywords)."""
    now = clock.now()
    pool = candidates(session, need, now)
    if not pool:
        return []
    index = ResourceIndex((r.id, r.title, r.description) for r in pool)
    boosts = [KIND_BOOST if need.kind and r.kind == need.kind else 1.0 for r in pool]
    ranked = index.rank(need.title, need.description, limit=limit, boosts=boosts)
    by_id = {r.id: r for r in pool}
    unit_names = dict(
        session.execute(
            select(CobuildingUnit.id, CobuildingUnit.name).where(
                CobuildingUnit.id.in_({by_id[int(m.key)].unit_id for m in ranked})
            )
        ).all()
    )
    out = []
    for m in ranked:
        r = by_id[int(m.key)]
        out.append(
            {
                "resource_id": r.id,
                "title": r.title,
                "kind": r.kind,
                "unit_id": r.unit_id,
                "unit_name": unit_names.get(r.unit_id, ""),
                "remaining": r.capacity - r.reserved,
                "score": m.score,
                "shared_keywords": list(m.shared),
                "reason": "共同关键词：" + "、".join(m.shared) if m.shared else "字面相近",
            }
        )
    return out


def suggest(session: Session, staff: Staff, need_id: int, *, limit: int = 3) -> list[dict[str, Any]]:
    """Suggestions for a need the caller may see."""
    return suggest_for(session, needs.get(session, staff, need_id), limit=limit)
