"""Creating appeals and writing their append-only events.

`create_appeal` and `record_event` are shared by intake (webhook and mini-program), the staff console and the
workflow state machine; they flush but never commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import clock
from models.appeal import Appeal, AppealEvent, AppealSupporter
from models.org import Building, Community, Estate, Grid
from models.resident import Resident
from services.appeals.states import NOT_CLOSED
from services.organisation.places import grid_for_location

log = logging.getLogger(__name__)

APPEAL_KINDS = ("appeal", "consultation")
# Statuses in which an appeal still needs work (a follow-up, a duplicate or a "me too" may attach to it).
NUMBER_PREFIX = "HG"


def format_number(appeal_id: int, created_local_date: str) -> str:
    """The short number quoted to residents: HG + yymmdd (local date) + the id zero-padded to 7 digits."""
    return f"{NUMBER_PREFIX}{created_local_date}{appeal_id:07d}"


def record_event(
    session: Session,
    appeal: Appeal,
    action: str,
    *,
    actor_type: str,
    actor_id: int | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason_code: str | None = None,
    note: str | None = None,
    payload: dict[str, Any] | None = None,
) -> AppealEvent:
    """Append one event to the appeal's log (never updated or deleted afterwards) and flush it."""
    if appeal.id is None:
        session.flush()
    event = AppealEvent(
        appeal_id=appeal.id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor_type=actor_type,
        actor_id=actor_id,
        reason_code=reason_code,
        note=note,
        payload=dict(payload or {}),
        created_at=clock.now(),
    )
    session.add(event)
    session.flush()
    return event


def create_appeal(
    session: Session,
    *,
    resident: Resident | None,
    text: str,
    channel: str,
    kind: str = "appeal",
    inbound_message_id: int | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    building_id: int | None = None,
    address: str | None = None,
) -> Appeal:
    """Store a new appeal (status received) with its short number and its `create` event."""
    if kind not in APPEAL_KINDS:
        raise ValueError(f"unknown appeal kind {kind!r}")
    # The problem's place: an explicit building, else a reported location, else where the resident lives.
    located = latitude is not None and longitude is not None
    if building_id is None and resident is not None and not located:
        building_id = resident.building_id
    community_id = resident.community_id if resident is not None else None
    grid_id = resident.grid_id if resident is not None else None
    if building_id is not None:
        building = session.get(Building, building_id)
        grid_id = building.grid_id if building is not None else grid_id
    elif located:
        grid = grid_for_location(session, float(latitude), float(longitude))  # type: ignore[arg-type]
        grid_id = grid.id if grid is not None else grid_id
    if grid_id is not None:
        grid_row = session.get(Grid, grid_id)
        community_id = grid_row.community_id if grid_row is not None else community_id
    now = clock.now()
    appeal = Appeal(
        kind=kind,
        channel=channel,
        resident_id=resident.id if resident is not None else None,
        inbound_message_id=inbound_message_id,
        text=text,
        latitude=latitude,
        longitude=longitude,
        building_id=building_id,
        address=address,
        community_id=community_id,
        grid_id=grid_id,
        status="received",
        created_at=now,
        updated_at=now,
    )
    session.add(appeal)
    session.flush()
    appeal.number = format_number(appeal.id, now.astimezone(clock.LOCAL_TZ).strftime("%y%m%d"))
    record_event(
        session,
        appeal,
        "create",
        actor_type="resident" if resident is not None else "system",
        actor_id=resident.id if resident is not None else None,
        to_status="received",
        payload={"kind": kind, "channel": channel},
    )
    return appeal


def default_community_id(session: Session, code: str = "") -> int | None:
    """The account's default community: the one with `code` (DEFAULT_COMMUNITY), else the only community."""
    if code:
        found = session.scalar(select(Community.id).where(Community.code == code))
        if found is not None:
            return found
        log.warning("DEFAULT_COMMUNITY %r names no community; using the only community if there is one", code)
    ids = list(session.scalars(select(Community.id).order_by(Community.id).limit(2)))
    return ids[0] if len(ids) == 1 else None


def community_of_company(session: Session, property_company_id: int) -> int | None:
    """The community a property company serves, when all of its estates lie in one community."""
    stmt = select(Estate.community_id).where(Estate.property_company_id == property_company_id).distinct().limit(2)
    ids = list(session.scalars(stmt))
    return ids[0] if len(ids) == 1 else None


def assign_community(
    session: Session,
    appeal: Appeal,
    *,
    property_company_id: int | None = None,
    default_community: str = "",
) -> int | None:
    """Give a still community-less appeal the community of the unit it goes to, else the account's default.

    The place (building, grid, location) already decided the community of most appeals; a resident who never
    bound an address and reports something a department handles has none, and a community's KPIs would miss
    it while the public figures count it. Departments serve the whole account, so they name no community.
    """
    if appeal.community_id is None and property_company_id is not None:
        appeal.community_id = community_of_company(session, property_company_id)
    if appeal.community_id is None:
        appeal.community_id = default_community_id(session, default_community)
        if appeal.community_id is None:
            log.warning("appeal %s has no community: set HONGGUAN_DEFAULT_COMMUNITY", appeal.id)
    return appeal.community_id


def get_by_number(session: Session, number: str) -> Appeal | None:
    """The appeal with this short number (case-insensitive), or None."""
    return session.scalar(select(Appeal).where(Appeal.number == number.strip().upper()))


def open_appeals_of(session: Session, resident_id: int, *, limit: int = 5) -> list[Appeal]:
    """The resident's open appeals (not consultations), newest first."""
    stmt = (
        select(Appeal)
        .where(Appeal.resident_id == resident_id, Appeal.kind == "appeal", Appeal.status.in_(NOT_CLOSED))
        .order_by(Appeal.created_at.desc(), Appeal.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def supporters_of(session: Session, appeal: Appeal) -> list[int]:
    """Resident ids of everyone who said "me too" to this appeal (they receive its updates), oldest first."""
    stmt = (
        select(AppealSupporter.resident_id).where(AppealSupporter.appeal_id == appeal.id).order_by(AppealSupporter.id)
    )
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- who acts

ACTOR_TYPES = ("resident", "staff", "system")


@dataclass(frozen=True)
class Actor:
    """Who performs a transition: a resident, a staff member (with their role) or the system."""

    type: str
    id: int | None = None
    role: str | None = None

    def __post_init__(self) -> None:
        if self.type not in ACTOR_TYPES:
            raise ValueError(f"actor type must be one of {ACTOR_TYPES}, not {self.type!r}")


SYSTEM = Actor("system")


def record_step(
    session: Session,
    appeal: Appeal,
    action: str,
    actor: Actor,
    *,
    from_status: str | None = None,
    to_status: str | None = None,
    reason_code: str | None = None,
    note: str | None = None,
    payload: dict[str, Any] | None = None,
) -> AppealEvent:
    """Append the event of one step taken by `actor` (a transition, a note, a rating …)."""
    return record_event(
        session,
        appeal,
        action,
        actor_type=actor.type,
        actor_id=actor.id,
        from_status=from_status,
        to_status=to_status,
        reason_code=reason_code,
        note=note,
        payload=payload,
    )


def iso_utc(value: datetime | None) -> str | None:
    """A moment as an ISO 8601 string in UTC, as event payloads store it."""
    return value.astimezone(UTC).isoformat() if value is not None else None
