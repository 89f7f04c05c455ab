"""Monthly volunteer rankings per grid and per community, computed from the ledger.

Season key = local month YYYY-MM (`points_ledger.period_key`). Only earned points count (kind earn): spending
on rewards must not push a volunteer down the board, and refunds are not achievements. There are no mutable
counters: every board is one GROUP BY over the ledger. Ties break on the earliest completion, i.e. whoever
reached the total first (the time of their last earning row in the season), then the lower resident id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Grid, Resident
from models.points import PointsLedger
from services.errors import DomainError

_SEASON = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class RankRow:
    """One line of a board; `name` is already masked for public display."""

    rank: int
    resident_id: int
    name: str
    grid_id: int | None
    points: int
    reached_at: datetime


ANONYMOUS = "匿名志愿者"


def public_name(name: str | None) -> str:
    """Mask a name for a public board: 张三丰 → 张**; no name → 匿名志愿者 (an id would identify the resident)."""
    name = (name or "").strip()
    if not name:
        return ANONYMOUS
    return name[0] + "*" * max(1, len(name) - 1)


def board(
    session: Session,
    season: str,
    *,
    community_id: int,
    grid_id: int | None = None,
    limit: int = 50,
) -> list[RankRow]:
    """The top `limit` volunteers of a season in a community (or one of its grids), ties → earliest."""
    if not _SEASON.match(season or ""):
        raise DomainError("赛季格式应为 YYYY-MM", code="bad_season")
    total = func.sum(PointsLedger.delta).label("total")
    reached = func.max(PointsLedger.created_at).label("reached")
    # The grid a volunteer is ranked in is the grid they earned the points in (snapshotted on the row).
    stmt = (
        select(PointsLedger.resident_id, PointsLedger.grid_id, total, reached)
        .where(
            PointsLedger.period_key == season,
            PointsLedger.kind == "earn",
            PointsLedger.community_id == community_id,
        )
        .group_by(PointsLedger.resident_id, PointsLedger.grid_id)
    )
    if grid_id is not None:
        stmt = stmt.where(PointsLedger.grid_id == grid_id)
    per_grid = session.execute(stmt).all()
    # A resident who earned in two grids appears once on the community board, with the sum.
    merged: dict[int, list] = {}
    for resident_id, row_grid, pts, at in per_grid:
        at = _aware(at)
        entry = merged.setdefault(resident_id, [row_grid, 0, at])
        entry[1] += int(pts)
        if at > entry[2]:
            entry[2], entry[0] = at, row_grid
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1][1], kv[1][2], kv[0]))[:limit]
    names = dict(
        session.execute(select(Resident.id, Resident.name).where(Resident.id.in_([rid for rid, _ in ordered]))).all()
    )
    return [
        RankRow(i + 1, rid, public_name(names.get(rid)), g, pts, at) for i, (rid, (g, pts, at)) in enumerate(ordered)
    ]


def _aware(at: datetime) -> datetime:
    """Aggregates may come back naive (SQLite) or as text; make them UTC-aware for comparison."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def grid_boards(session: Session, season: str, *, community_id: int, limit: int = 10) -> dict[int, list[RankRow]]:
    """One board per grid of the community."""
    grids = session.scalars(select(Grid.id).where(Grid.community_id == community_id).order_by(Grid.id))
    return {gid: board(session, season, community_id=community_id, grid_id=gid, limit=limit) for gid in grids}


def my_rank(session: Session, season: str, resident_id: int, *, community_id: int) -> RankRow | None:
    """The resident's own line on the community board (None when they earned nothing this season)."""
    for row in board(session, season, community_id=community_id, limit=1_000_000):
        if row.resident_id == resident_id:
            return row
    return None
