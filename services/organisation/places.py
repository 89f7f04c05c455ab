"""Places: which grid covers a point on the map (the grid boundaries are GeoJSON polygons staff import)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from shapely.geometry import Point, shape
from shapely.prepared import prep
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.org import Grid


@lru_cache(maxsize=256)
def _prepared(boundary_json: str) -> Any:
    """A prepared shapely polygon for a grid boundary (cached by its JSON text, so edits invalidate it)."""
    return prep(shape(json.loads(boundary_json)))


def grid_for_location(
    session: Session, latitude: float, longitude: float, *, community_id: int | None = None
) -> Grid | None:
    """The grid whose boundary polygon covers the point (GeoJSON is lng, lat, as WeChat reports WGS-84)."""
    stmt = select(Grid).where(Grid.boundary.is_not(None)).order_by(Grid.id)
    if community_id is not None:
        stmt = stmt.where(Grid.community_id == community_id)
    point = Point(float(longitude), float(latitude))
    for grid in session.scalars(stmt):
        polygon = _prepared(json.dumps(grid.boundary, sort_keys=True))
        if polygon.covers(point):  # covers: a point on a shared edge still belongs to a grid
            return grid
    return None
