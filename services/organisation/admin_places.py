"""Administration of places: communities, grids (name, leader, boundary polygon), estates and buildings.

Every function takes the acting staff member, checks that the object lies in a community they administer
(`admin_scope`), validates the values as the domain sees them and flushes; the caller commits once.
"""

from __future__ import annotations

import re
from typing import Any

from shapely.geometry import LinearRing, MultiPoint, Polygon
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.org import Building, Community, Estate, Grid, PropertyCompany, QRScene
from models.staff import Staff
from services.errors import Forbidden, NotFound
from services.organisation.admin_scope import (
    DuplicateField,
    InvalidField,
    check_community,
    clean,
    is_street_admin,
    require_admin,
)

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
MAX_BOUNDARY_POINTS = 500


def check_code(raw: str | None) -> str:
    """A unit code: letters, digits, '-' and '_', at most 32 characters (it appears in CSV imports and QR scenes)."""
    code = (raw or "").strip()
    if not CODE.fullmatch(code):
        raise InvalidField("code", "编码只能由字母、数字、“-”和“_”组成，以字母或数字开头，最多 32 位。")
    return code


def unique_code(session: Session, model: Any, code: str, current: Any, what: str) -> None:
    """DuplicateField when another row of `model` already has this code."""
    taken = session.scalar(select(model).where(model.code == code))
    if taken is not None and taken is not current:
        raise DuplicateField("code", f"编码 {code} 已被另一个{what}使用，请换一个。")


# ---------------------------------------------------------------- boundaries


def parse_boundary(text: str | None) -> dict[str, Any] | None:
    """A boundary typed as one "lng,lat" point per line → a GeoJSON Polygon; None when empty.

    The points must form a simple polygon (at least three distinct corners, edges that do not cross, a non-zero
    area) in WGS-84 degrees, longitude first, as WeChat location messages report them. Closing the ring by
    repeating the first point is optional.
    """
    lines = [line.strip() for line in re.split(r"[\r\n;；]+", text or "") if line.strip()]
    if not lines:
        return None
    if len(lines) > MAX_BOUNDARY_POINTS:
        raise InvalidField("boundary", f"边界最多 {MAX_BOUNDARY_POINTS} 个点。")
    points: list[tuple[float, float]] = []
    for number, line in enumerate(lines, start=1):
        parts = [p for p in re.split(r"[,，\s]+", line) if p]
        try:
            lng, lat = (float(p) for p in parts) if len(parts) == 2 else (None, None)
        except ValueError:
            lng, lat = None, None
        if lng is None or lat is None:
            raise InvalidField("boundary", f"第 {number} 行“{line[:40]}”不是“经度,纬度”格式（例如 120.70,31.30）。")
        if not (-180 <= lng <= 180 and -90 <= lat <= 90):
            raise InvalidField("boundary", f"第 {number} 行的经度应在 -180 到 180、纬度在 -90 到 90 之间（经度在前）。")
        points.append((lng, lat))
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if len(set(points)) < 3:
        raise InvalidField("boundary", "边界至少需要 3 个不同的点。")
    if len(set(points)) != len(points):
        raise InvalidField("boundary", "边界中有重复的点（首尾以外），请删去重复的点。")
    ring = LinearRing(points)
    polygon = Polygon(ring)
    if MultiPoint(points).convex_hull.area == 0:
        raise InvalidField("boundary", "这些点围不成一个面（可能共线），请检查坐标。")
    if not ring.is_simple or not polygon.is_valid or polygon.area == 0:
        raise InvalidField("boundary", "边界的边相互交叉，请按边界走向依次填写各点（顺时针或逆时针）。")
    coordinates = [[lng, lat] for lng, lat in points]
    return {"type": "Polygon", "coordinates": [[*coordinates, coordinates[0]]]}


def boundary_text(boundary: dict[str, Any] | None) -> str:
    """A stored boundary as the form's "lng,lat" lines (the outer ring of the first polygon, unclosed)."""
    if not boundary:
        return ""
    geometry = boundary.get("geometry", boundary)
    rings = geometry.get("coordinates") or []
    ring = (rings[0][0] if geometry.get("type") == "MultiPolygon" else rings[0]) if rings else []
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]
    return "\n".join(f"{float(p[0]):.6f},{float(p[1]):.6f}" for p in ring)


# ---------------------------------------------------------------- communities


def save_community(
    session: Session, member: Staff, community: Community | None, *, code: str, name: str, street: str
) -> Community:
    """Create a community (street admins only) or rename one the member administers."""
    require_admin(member)
    if community is None:
        if not is_street_admin(member):
            raise Forbidden("只有不属于某个社区的管理员（街道或平台管理员）可以新建社区。")
        community = Community()
    else:
        check_community(session, member, community.id)
    code = check_code(code)
    unique_code(session, Community, code, community, "社区")
    community.code = code
    community.name = clean(name, "name", "社区名称", high=100)
    community.street = clean(street, "street", "所属街道", high=100, required=False)
    session.add(community)
    session.flush()
    return community


# ---------------------------------------------------------------- grids


def load_grid(session: Session, member: Staff, grid_id: int) -> Grid:
    """A grid of a community the member administers (NotFound / Forbidden otherwise)."""
    grid = session.get(Grid, grid_id)
    if grid is None:
        raise NotFound("没有这个网格。")
    check_community(session, member, grid.community_id)
    return grid


def grid_leader(session: Session, grid: Grid) -> Staff | None:
    """The grid's active grid leader (the first by id when there are several)."""
    return session.scalar(
        select(Staff)
        .where(Staff.grid_id == grid.id, Staff.role == "grid_leader", Staff.active.is_(True))
        .order_by(Staff.id)
    )


def leader_candidates(session: Session, community_id: int) -> list[Staff]:
    """Staff of the community who may lead a grid: active grid workers and grid leaders."""
    return list(
        session.scalars(
            select(Staff)
            .where(
                Staff.community_id == community_id,
                Staff.role.in_(("grid_worker", "grid_leader")),
                Staff.active.is_(True),
            )
            .order_by(Staff.name, Staff.id)
        )
    )


def save_grid(
    session: Session,
    member: Staff,
    grid: Grid | None,
    *,
    community_id: int,
    code: str,
    name: str,
    boundary: str | None,
    leader_id: int | None,
) -> Grid:
    """Create or edit a grid: its code, name, boundary ("lng,lat" lines) and leader.

    Naming a leader makes that staff member this grid's 网格长 (moving them from another grid if needed); the
    grid's previous leader stays in the grid as a 网格员.
    """
    community = check_community(session, member, community_id)
    if grid is None:
        grid = Grid(community_id=community.id)
    elif grid.community_id != community.id:
        check_community(session, member, grid.community_id)
        if session.scalar(select(Building.id).where(Building.grid_id == grid.id).limit(1)) is not None:
            raise InvalidField("community_id", "网格内已有楼栋，不能改到其他社区；请先把楼栋划到本社区的其他网格。")
        grid.community_id = community.id
    code = check_code(code)
    unique_code(session, Grid, code, grid, "网格")
    grid.code = code
    grid.name = clean(name, "name", "网格名称", high=100)
    grid.boundary = parse_boundary(boundary)
    session.add(grid)
    session.flush()
    if leader_id is not None:
        leader = session.get(Staff, leader_id)
        if leader is None or leader.community_id != community.id or not leader.active:
            raise InvalidField("leader_id", "网格长须是本社区在职的网格员或网格长。")
        if leader.role not in ("grid_worker", "grid_leader"):
            raise InvalidField("leader_id", "网格长须是网格员或网格长；其他角色请先在“工作人员”中改角色。")
        for previous in session.scalars(
            select(Staff).where(Staff.grid_id == grid.id, Staff.role == "grid_leader", Staff.id != leader.id)
        ):
            previous.role = "grid_worker"
        leader.role, leader.grid_id = "grid_leader", grid.id
        session.flush()
    return grid


# ---------------------------------------------------------------- estates and buildings


def load_estate(session: Session, member: Staff, estate_id: int) -> Estate:
    """An estate of a community the member administers."""
    estate = session.get(Estate, estate_id)
    if estate is None:
        raise NotFound("没有这个小区。")
    check_community(session, member, estate.community_id)
    return estate


def save_estate(
    session: Session,
    member: Staff,
    estate: Estate | None,
    *,
    community_id: int,
    code: str,
    name: str,
    property_company_id: int | None,
) -> Estate:
    """Create or edit an estate (小区) and the property company that manages it."""
    community = check_community(session, member, community_id)
    if estate is None:
        estate = Estate(community_id=community.id)
    elif estate.community_id != community.id:
        check_community(session, member, estate.community_id)
        estate.community_id = community.id
    code = check_code(code)
    unique_code(session, Estate, code, estate, "小区")
    if property_company_id is not None and session.get(PropertyCompany, property_company_id) is None:
        raise InvalidField("property_company_id", "没有这家物业公司。")
    estate.code = code
    estate.name = clean(name, "name", "小区名称", high=100)
    estate.property_company_id = property_company_id
    session.add(estate)
    session.flush()
    return estate


def load_building(session: Session, member: Staff, building_id: int) -> Building:
    """A building of a community the member administers."""
    building = session.get(Building, building_id)
    if building is None:
        raise NotFound("没有这栋楼。")
    estate = session.get(Estate, building.estate_id)
    check_community(session, member, estate.community_id if estate else None)
    return building


def save_building(
    session: Session, member: Staff, building: Building | None, *, estate_id: int, grid_id: int, name: str
) -> Building:
    """Create or edit a building: its estate, the grid it belongs to (same community) and its name."""
    estate = load_estate(session, member, estate_id)
    grid = session.get(Grid, grid_id)
    if grid is None or grid.community_id != estate.community_id:
        raise InvalidField("grid_id", "楼栋所在网格须与小区属于同一个社区。")
    if building is None:
        building = Building()
    else:
        load_building(session, member, building.id)
    name = clean(name, "name", "楼栋名称", high=50)
    taken = session.scalar(select(Building).where(Building.estate_id == estate.id, Building.name == name))
    if taken is not None and taken is not building:
        raise DuplicateField("name", f"{estate.name}已有名为“{name}”的楼栋。")
    building.estate_id, building.grid_id, building.name = estate.id, grid.id, name
    session.add(building)
    session.flush()
    # The building's printed QR codes keep binding residents to where the building now is.
    for qr in session.scalars(select(QRScene).where(QRScene.building_id == building.id)):
        qr.community_id = estate.community_id
        qr.grid_id = grid.id if qr.grid_id is not None else None
    session.flush()
    return building
