"""The QR codes that bind residents to their building: one permanent WeChat QR scene per building.

A resident who scans a building's code with WeChat follows the official account (subscribe, EventKey
`qrscene_<scene>`) or, already following, sends a SCAN event (EventKey `<scene>`); the webhook then binds them to
that building (`residents.bind_by_scene`), and so to its grid and community. The scene names the building only:
its grid is read from the building when someone scans, so moving a building to another grid needs no new code.
Scenes made here are `bld-<building id>`; a scene imported from CSV for a building is reused as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.org import Building, Estate, Grid, QRScene
from models.staff import Staff
from services.organisation.admin_scope import InvalidField, communities_of

SCENE_PREFIX = "bld-"


@dataclass(frozen=True)
class BuildingCode:
    """One card of the printable sheet: the building, its place, and its scene (with the QR content if issued)."""

    building_id: int
    estate: str
    building: str
    grid: str
    scene: QRScene | None


def sheet(
    session: Session, member: Staff, *, estate_id: int | None = None, grid_id: int | None = None
) -> list[BuildingCode]:
    """The buildings of the member's communities (optionally one estate or grid), each with its QR scene."""
    communities = [c.id for c in communities_of(session, member)]
    stmt = (
        select(Building, Estate, Grid)
        .join(Estate, Estate.id == Building.estate_id)
        .join(Grid, Grid.id == Building.grid_id)
        .where(Estate.community_id.in_(communities))
        .order_by(Estate.code, Building.name, Building.id)
    )
    if estate_id is not None:
        stmt = stmt.where(Estate.id == estate_id)
    if grid_id is not None:
        stmt = stmt.where(Grid.id == grid_id)
    rows = list(session.execute(stmt))
    scenes: dict[int, QRScene] = {}
    ids = [b.id for b, _, _ in rows]
    if ids:
        for qr in session.scalars(select(QRScene).where(QRScene.building_id.in_(ids)).order_by(QRScene.id.desc())):
            if qr.building_id is not None:
                scenes[qr.building_id] = qr  # the oldest scene of a building wins (the first printed)
    return [BuildingCode(b.id, e.name, b.name, g.name, scenes.get(b.id)) for b, e, g in rows]


def scene_for(session: Session, member: Staff, building_id: int) -> QRScene:
    """The building's QR scene, created (`bld-<id>`, no ticket yet) when it has none."""
    allowed = [c.id for c in communities_of(session, member)]
    found = session.execute(
        select(Building, Estate).join(Estate, Estate.id == Building.estate_id).where(Building.id == building_id)
    ).first()
    if found is None or found[1].community_id not in allowed:
        raise InvalidField("building_id", "楼栋不存在，或不属于您管理的社区。")
    building, estate = found
    existing = session.scalar(select(QRScene).where(QRScene.building_id == building.id).order_by(QRScene.id))
    if existing is not None:
        return existing
    qr = QRScene(scene=f"{SCENE_PREFIX}{building.id}", community_id=estate.community_id, grid_id=None,
                 building_id=building.id, label=f"{estate.name} {building.name}"[:100])  # fmt: skip
    session.add(qr)
    session.flush()
    return qr


def record_ticket(session: Session, qr: QRScene, *, ticket: str, url: str) -> QRScene:
    """Keep the ticket and content of the permanent QR code WeChat issued for the scene."""
    qr.ticket, qr.qr_url = ticket[:200], url[:200]
    session.flush()
    return qr
