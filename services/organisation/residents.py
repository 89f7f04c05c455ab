"""Residents of the official account: openid-keyed profiles, binding to community → grid, erasure.

Binding paths: a parametric QR scene (QRScene), choosing estate/building in chat, or a location inside a
grid's boundary polygon. Unsubscribing erases personal data as WeChat requires
("开发者收到用户取消关注事件时需要删除该用户的所有信息",
https://developers.weixin.qq.com/doc/service/Account_Management/Wechat_Accreditation_Event_Push.html)
while the resident row stays, pseudonymous, so appeals keep an accountable requester.

One person is one Resident across the official account and the mini-program, so erasure covers both
channels (the README's "Erasure" paragraph is the policy): the mini-program identity and its sessions go
with the official-account one, and the next login from either channel starts a fresh, unbound profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shapely.geometry import Point, shape
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from infra import clock, privacy
from models.messages import InboundMessage, OutboundMessage
from models.miniapp import IdempotencyRecord, MiniappSession
from models.notify import SubscribeGrant
from models.org import Building, Community, Estate, Grid, QRScene
from models.resident import Resident
from services.errors import NotFound


@dataclass(frozen=True)
class Binding:
    """Where a resident is bound: community, grid and optionally building (names for replies)."""

    community_id: int
    community_name: str
    grid_id: int | None = None
    grid_name: str | None = None
    building_id: int | None = None
    building_label: str | None = None

    def describe(self) -> str:
        """A short Chinese description, e.g. "金鸡湖社区 第一网格 绿洲花园1幢"."""
        parts = [self.community_name]
        if self.grid_name:
            parts.append(self.grid_name)
        if self.building_label:
            parts.append(self.building_label)
        return " ".join(parts)


def get_by_openid(session: Session, openid: str) -> Resident | None:
    """The resident with this official-account openid, or None."""
    return session.scalar(select(Resident).where(Resident.openid == openid))


def get_or_create(session: Session, openid: str) -> Resident:
    """The resident for `openid`, created on first contact (safe when two deliveries race on PostgreSQL)."""
    if not openid:
        raise ValueError("openid is required")
    resident = get_by_openid(session, openid)
    if resident is not None:
        return resident
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = clock.now()
    session.execute(
        insert(Resident)
        .values(openid=openid, created_at=now, updated_at=now, is_volunteer=False, subscribed=False,
                cs_sends_since_inbound=0)
        .on_conflict_do_nothing(index_elements=["openid"])
    )  # fmt: skip
    resident = get_by_openid(session, openid)
    assert resident is not None  # inserted above, or by a concurrent transaction that has committed
    return resident


def touch_inbound(resident: Resident, at: datetime | None = None) -> None:
    """The resident just wrote to us: the 48 h customer-service window restarts and its send budget resets.

    Never moves the window back: the worker touches it with the time a queued message was received, which
    may be older than a command the resident sent (and the webhook answered inline) in the meantime.
    """
    at = at or clock.now()
    if resident.last_inbound_at is not None and at < resident.last_inbound_at:
        return
    resident.last_inbound_at = at
    resident.cs_sends_since_inbound = 0
    if resident.erased_at is None:
        resident.subscribed = True  # only followers can write to an official account


def subscribe(session: Session, openid: str) -> Resident:
    """Follow (or re-follow) the account: the profile is (re)activated; an erased profile is never revived."""
    resident = get_or_create(session, openid)
    resident.subscribed = True
    resident.subscribed_at = clock.now()
    resident.unsubscribed_at = None
    session.flush()
    return resident


def erase_on_unsubscribe(session: Session, openid: str) -> Resident | None:
    """Unfollow: erase the person on both channels (see `erase`); the message log of `openid` is emptied."""
    resident = get_by_openid(session, openid)
    pseudo = privacy.pseudonym(openid)
    session.execute(
        update(InboundMessage).where(InboundMessage.openid == openid).values(openid=pseudo, body="", reply=None)
    )
    if resident is None:
        return None
    erase(session, resident)
    return resident


def erase(session: Session, resident: Resident) -> None:
    """Erase a resident's personal data on the official account and the mini-program alike.

    Erased: name, phone, room, building, dialogue state, unionid; both openids become keyed pseudonyms (on
    the resident, the send log and the sessions); every mini-program session is revoked and its session_key
    dropped; subscribe grants and cached idempotent responses are deleted. Kept, linked to this pseudonymous
    row, for accountability: appeals and their event log, bookings, signups, the points ledger and
    redemptions, read receipts, and community/grid for statistics. Nothing links a later login or re-follow
    back to this row.
    """
    now = clock.now()
    openids = [o for o in (resident.openid, resident.miniapp_openid) if o]
    if openids:
        session.execute(
            delete(SubscribeGrant)
            .where(SubscribeGrant.openid.in_(openids))
            .execution_options(synchronize_session=False)
        )
        for openid in openids:
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.openid == openid)
                .values(openid=privacy.pseudonym(openid))
                .execution_options(synchronize_session=False)
            )
    sessions = MiniappSession.resident_id == resident.id
    session.execute(
        update(MiniappSession)
        .where(sessions, MiniappSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if resident.miniapp_openid:
        session.execute(
            update(MiniappSession)
            .where(sessions)
            .values(session_key="", openid=privacy.pseudonym(resident.miniapp_openid))
            .execution_options(synchronize_session=False)
        )
    session.execute(
        delete(IdempotencyRecord)
        .where(IdempotencyRecord.resident_id == resident.id)
        .execution_options(synchronize_session=False)
    )
    if resident.openid and resident.erased_at is None:
        # Unique even when the same person follows and leaves twice.
        resident.openid = f"{privacy.pseudonym(resident.openid)}:{resident.id}"
    resident.miniapp_openid = None
    resident.unionid = None
    resident.name = None
    resident.phone = None
    resident.room = None
    resident.building_id = None
    resident.dialog_state = None
    resident.subscribed = False
    if resident.openid:
        resident.unsubscribed_at = now
    resident.erased_at = resident.erased_at or now
    session.flush()


def _binding(session: Session, resident: Resident) -> Binding | None:
    if resident.community_id is None:
        return None
    community = session.get(Community, resident.community_id)
    grid = session.get(Grid, resident.grid_id) if resident.grid_id else None
    label = None
    if resident.building_id:
        building = session.get(Building, resident.building_id)
        if building is not None:
            estate = session.get(Estate, building.estate_id)
            label = f"{estate.name if estate else ''}{building.name}"
    return Binding(
        community_id=resident.community_id,
        community_name=community.name if community else "",
        grid_id=grid.id if grid else None,
        grid_name=grid.name if grid else None,
        building_id=resident.building_id,
        building_label=label,
    )


def binding_of(session: Session, resident: Resident) -> Binding | None:
    """The resident's current binding, or None when unbound."""
    return _binding(session, resident)


def bind_by_scene(session: Session, resident: Resident, scene: str) -> Binding | None:
    """Bind via a parametric QR code's scene value; None when the scene is unknown."""
    qr = session.scalar(select(QRScene).where(QRScene.scene == scene))
    if qr is None:
        return None
    resident.community_id = qr.community_id
    if qr.building_id is not None:
        building = session.get(Building, qr.building_id)
        resident.building_id = qr.building_id
        resident.grid_id = qr.grid_id or (building.grid_id if building else None)
    elif qr.grid_id is not None:
        resident.grid_id = qr.grid_id
        resident.building_id = None
    session.flush()
    return _binding(session, resident)


def bind_to_building(session: Session, resident: Resident, building_id: int) -> Binding:
    """Bind to a building (and so to its grid and the estate's community)."""
    building = session.get(Building, building_id)
    if building is None:
        raise NotFound("没有这栋楼")
    estate = session.get(Estate, building.estate_id)
    if estate is None:  # pragma: no cover - foreign key
        raise NotFound("没有这个小区")
    resident.building_id = building.id
    resident.grid_id = building.grid_id
    resident.community_id = estate.community_id
    session.flush()
    binding = _binding(session, resident)
    assert binding is not None
    return binding


def find_grid(session: Session, latitude: float, longitude: float) -> Grid | None:
    """The grid whose boundary covers the point (GeoJSON is lng, lat), or None; the smallest grid wins."""
    point = Point(longitude, latitude)
    best: tuple[float, Grid] | None = None
    for grid in session.scalars(select(Grid).where(Grid.boundary.is_not(None)).order_by(Grid.id)):
        try:
            polygon = shape(grid.boundary)
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # a malformed boundary must not break everyone else's location
        minx, miny, maxx, maxy = polygon.bounds
        if not (minx <= longitude <= maxx and miny <= latitude <= maxy):
            continue
        if polygon.covers(point) and (best is None or polygon.area < best[0]):
            best = (polygon.area, grid)
    return best[1] if best else None


def bind_by_location(session: Session, resident: Resident, latitude: float, longitude: float) -> Binding | None:
    """Bind to the grid that contains the location; None (binding unchanged) when no grid does."""
    grid = find_grid(session, latitude, longitude)
    if grid is None:
        return None
    if resident.grid_id != grid.id:
        # A building in another grid no longer describes where the resident is.
        if resident.building_id is not None:
            building = session.get(Building, resident.building_id)
            if building is None or building.grid_id != grid.id:
                resident.building_id = None
        resident.grid_id = grid.id
    resident.community_id = grid.community_id
    session.flush()
    return _binding(session, resident)


def list_estates(session: Session, community_id: int | None = None) -> list[Estate]:
    """Estates to choose from (all, or those of one community), in a stable order."""
    stmt = select(Estate).order_by(Estate.id)
    if community_id is not None:
        stmt = stmt.where(Estate.community_id == community_id)
    return list(session.scalars(stmt))


def list_buildings(session: Session, estate_id: int) -> list[Building]:
    """Buildings of an estate, in a stable order."""
    return list(session.scalars(select(Building).where(Building.estate_id == estate_id).order_by(Building.id)))


def public_view(resident: Resident) -> dict[str, Any]:
    """What may be shown about a resident outside their own account: masked phone, no room, no openid."""
    return {
        "id": resident.id,
        "name": resident.name[:1] + "**" if resident.name else None,
        "phone": privacy.mask_phone(resident.phone) or None,
        "community_id": resident.community_id,
        "grid_id": resident.grid_id,
        "erased": resident.erased_at is not None,
    }
