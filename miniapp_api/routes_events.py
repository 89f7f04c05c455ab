"""Event signup API (活动报名): list, sign up / waitlist, cancel (auto-promotion), my QR, staff check-in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from pydantic import AwareDatetime, BaseModel, Field, field_validator
from sqlalchemy import select

from infra import clock
from infra.http import ApiError
from infra.web import db_session
from miniapp_api.auth import current_principal, login_required, require_roles
from miniapp_api.blueprint import api_blueprint
from miniapp_api.idempotency import idempotent
from miniapp_api.pagination import Page, PageQuery, paginate
from miniapp_api.schemas import WRITE_ERRORS, DbId, ErrorBody, responses
from models.events import Event, EventSignup
from models.resident import Resident
from services.errors import Forbidden, NotFound
from services.points import events as svc

bp = api_blueprint("miniapp_events", __name__, "events", "活动报名: events, signup, waitlist, QR check-in")

EVENT_ERRORS = {**WRITE_ERRORS, 422: ErrorBody}


class EventPath(BaseModel):
    """An event by id."""

    event_id: DbId


class EventListQuery(PageQuery):
    """Filter the event list."""

    include_past: bool = Field(False, description="also events that have ended")


class EventOut(BaseModel):
    """An event as residents see it (no attendee names)."""

    id: int
    title: str
    description: str
    location: str
    starts_at: datetime
    ends_at: datetime
    signup_opens_at: datetime
    signup_closes_at: datetime
    capacity: int
    seats_left: int
    waitlist_capacity: int
    grid_id: int | None
    volunteers_only: bool
    points_on_attendance: int
    status: str
    my_status: str | None = Field(None, description="confirmed | waitlisted | cancelled | null")


class SignupOut(BaseModel):
    """The caller's signup."""

    id: int
    event_id: int
    status: str
    waitlist_position: int | None
    checked_in_at: datetime | None
    promoted_at: datetime | None


class CancelOut(BaseModel):
    """The cancelled signup (who was promoted is not disclosed to the caller)."""

    signup: SignupOut
    seat_passed_on: bool


class EventCreate(BaseModel):
    """A new event (organisers)."""

    title: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=5000)
    location: str = Field("", max_length=200)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    signup_opens_at: AwareDatetime | None = None
    signup_closes_at: AwareDatetime | None = None
    capacity: int = Field(ge=1, le=100_000)
    waitlist_capacity: int = Field(20, ge=0, le=100_000)
    grid_id: DbId | None = None
    volunteers_only: bool = False
    points_on_attendance: int = Field(0, ge=0, le=1000)

    @field_validator("starts_at", "ends_at", "signup_opens_at", "signup_closes_at")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        # Far-off years overflow when converted to UTC; no community plans events outside this range.
        if value is not None and not 2000 <= value.year <= 2100:
            raise ValueError("must be between the years 2000 and 2100")
        return value


class CheckinBody(BaseModel):
    """The attendee's QR payload, as scanned."""

    token: str = Field(min_length=1, max_length=300)


class CheckinCode(BaseModel):
    """The signed, single-use check-in code to render as a QR code."""

    event_id: int
    token: str


class RosterItem(BaseModel):
    """A signup as its organisers see it (name masked in the list; full data stays in the console)."""

    signup_id: int
    resident_id: int
    status: str
    checked_in: bool


def _event_out(event: Event, mine: EventSignup | None) -> dict[str, Any]:
    return EventOut(
        id=event.id,
        title=event.title,
        description=event.description,
        location=event.location,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        signup_opens_at=event.signup_opens_at,
        signup_closes_at=event.signup_closes_at,
        capacity=event.capacity,
        seats_left=max(0, event.capacity - event.confirmed_count),
        waitlist_capacity=event.waitlist_capacity,
        grid_id=event.grid_id,
        volunteers_only=event.volunteers_only,
        points_on_attendance=event.points_on_attendance,
        status=event.status,
        my_status=mine.status if mine else None,
    ).model_dump(mode="json")


def _signup_out(session: Any, row: EventSignup) -> dict[str, Any]:
    return SignupOut(
        id=row.id,
        event_id=row.event_id,
        status=row.status,
        waitlist_position=svc.waitlist_position(session, row),
        checked_in_at=row.checked_in_at,
        promoted_at=row.promoted_at,
    ).model_dump(mode="json")


def _resident(session: Any) -> Resident:
    resident = session.get(Resident, current_principal().resident_id)
    if resident is None:  # pragma: no cover - the session names an existing resident
        raise ApiError(401, "unauthorized", "请重新登录")
    return resident


def _visible_event(session: Any, event_id: int, resident: Resident) -> Event:
    """The event if the caller may see it (their community; community-wide or their grid), else 404."""
    event = session.get(Event, event_id)
    if (
        event is None
        or event.community_id != resident.community_id
        or (event.grid_id is not None and event.grid_id != resident.grid_id)
    ):
        raise NotFound("活动不存在")
    return event


def _staff_id() -> int:
    staff_id = current_principal().staff_id
    if staff_id is None:
        raise Forbidden("需要工作人员身份")
    return staff_id


@bp.get("/events", responses=responses(Page[EventOut]), summary="events of my community and grid")
@login_required
def list_events(query: EventListQuery) -> Any:
    """Published events the caller may join, soonest first, with the caller's own status."""
    session = db_session()
    resident = _resident(session)
    stmt = (
        select(Event)
        .where(Event.status == "published", Event.community_id == resident.community_id)
        .where(Event.grid_id.is_(None) | (Event.grid_id == resident.grid_id))
        .order_by(Event.starts_at, Event.id)
    )
    if not query.include_past:
        stmt = stmt.where(Event.ends_at > clock.now())
    page = paginate(session, stmt, query, lambda e: e)
    mine = {
        s.event_id: s
        for s in session.scalars(
            select(EventSignup).where(
                EventSignup.resident_id == resident.id,
                EventSignup.event_id.in_([e.id for e in page["items"]]),
            )
        )
    }
    page["items"] = [_event_out(e, mine.get(e.id)) for e in page["items"]]
    return page


@bp.get("/events/<int:event_id>", responses=responses(EventOut), summary="one event")
@login_required
def get_event(path: EventPath) -> Any:
    """An event with seats left and the caller's status."""
    session = db_session()
    resident = _resident(session)
    event = _visible_event(session, path.event_id, resident)
    return _event_out(event, svc.signup_of(session, event.id, resident.id))


@bp.post("/events", responses=responses(EventOut, status=201, errors=EVENT_ERRORS), summary="publish (staff)")
@require_roles("staff")
@idempotent
def create_event(body: EventCreate) -> Any:
    """Publish an event in the organiser's community (grid staff: in their grid)."""
    session = db_session()
    event = svc.create_event(session, _staff_id(), **body.model_dump())
    out = _event_out(event, None)
    session.commit()
    return out, 201


@bp.post(
    "/events/<int:event_id>/signup",
    responses=responses(SignupOut, status=201, errors=EVENT_ERRORS),
    summary="sign up (or join the waitlist)",
)
@login_required
@idempotent
def signup(path: EventPath) -> Any:
    """Take a seat, or a waitlist place when full (409 event_full when the waitlist is full too)."""
    session = db_session()
    resident = _resident(session)
    _visible_event(session, path.event_id, resident)
    result = svc.signup(session, path.event_id, resident.id)
    out = _signup_out(session, result.signup)
    session.commit()
    return out, 201


@bp.post(
    "/events/<int:event_id>/cancel",
    responses=responses(CancelOut, errors=EVENT_ERRORS),
    summary="cancel my signup",
)
@login_required
@idempotent
def cancel(path: EventPath) -> Any:
    """Cancel before the start; a freed seat goes to the first on the waitlist in the same transaction."""
    session = db_session()
    resident = _resident(session)
    _visible_event(session, path.event_id, resident)
    row, promoted = svc.cancel(session, path.event_id, resident.id)
    out = CancelOut(signup=SignupOut(**_signup_out(session, row)), seat_passed_on=promoted is not None)
    session.commit()
    return out.model_dump(mode="json")


@bp.get("/events/<int:event_id>/checkin-code", responses=responses(CheckinCode), summary="my check-in QR code")
@login_required
def checkin_code(path: EventPath) -> Any:
    """The signed single-use code to show the organiser (confirmed signups only)."""
    session = db_session()
    row = svc.signup_of(session, path.event_id, current_principal().resident_id)
    if row is None or row.status == "cancelled":
        raise NotFound("您没有报名该活动")
    if row.status != "confirmed":
        raise svc.Conflict("候补中，确认后才有签到码", code="not_confirmed")
    return CheckinCode(event_id=row.event_id, token=svc.qr_for(current_app.config["SECRET_KEY"], row)).model_dump()


@bp.post(
    "/events/checkin",
    responses=responses(SignupOut, errors=EVENT_ERRORS),
    summary="scan a check-in code (staff)",
)
@require_roles("staff")
def checkin(body: CheckinBody) -> Any:
    """An organiser scans the attendee's code: once, within the window; attendance points go to the ledger."""
    session = db_session()
    row = svc.check_in(session, body.token, _staff_id(), secret=current_app.config["SECRET_KEY"])
    out = _signup_out(session, row)
    session.commit()
    return out


@bp.get("/events/<int:event_id>/roster", responses=responses(Page[RosterItem]), summary="signups (organisers)")
@require_roles("staff")
def roster(path: EventPath, query: PageQuery) -> Any:
    """Active signups in queue order, for the event's organisers."""
    session = db_session()
    rows = svc.roster(session, path.event_id, _staff_id())
    items = [
        RosterItem(signup_id=r.id, resident_id=r.resident_id, status=r.status, checked_in=r.checked_in_at is not None)
        for r in rows[query.offset : query.offset + query.page_size]
    ]
    return {
        "items": [i.model_dump() for i in items],
        "page": query.page,
        "page_size": query.page_size,
        "total": len(rows),
    }


@bp.get("/me/events", responses=responses(Page[SignupOut]), summary="my signups")
@login_required
def my_signups(query: PageQuery) -> Any:
    """The caller's signups, newest first."""
    session = db_session()
    stmt = (
        select(EventSignup)
        .where(EventSignup.resident_id == current_principal().resident_id)
        .order_by(EventSignup.id.desc())
    )
    return paginate(session, stmt, query, lambda r: _signup_out(session, r))
