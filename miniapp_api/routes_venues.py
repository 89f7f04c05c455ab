"""Venue booking API: venues and their slots, booking, cancelling, waitlist offers, QR check-in, approval."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from flask import current_app
from pydantic import AwareDatetime, BaseModel, Field, field_validator
from sqlalchemy import func, select

from infra import clock
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from miniapp_api.auth import current_principal, login_required, require_roles
from miniapp_api.blueprint import api_blueprint
from miniapp_api.idempotency import idempotent
from miniapp_api.pagination import Page, PageQuery, paginate
from miniapp_api.schemas import WRITE_ERRORS, DbId, ErrorBody, responses
from models.booking import BOOKING_STATES, Booking, Venue
from models.resident import Resident
from services.booking import venues as svc
from services.errors import Conflict, NotFound

bp = api_blueprint("miniapp_venues", __name__, "venues", "社区场馆预约: venues, slots, bookings, waitlist, check-in")

BOOKING_ERRORS = {**WRITE_ERRORS, 422: ErrorBody}


class VenuePath(BaseModel):
    """A venue by id."""

    venue_id: DbId


class BookingPath(BaseModel):
    """A booking by its id (an integer like every other id; another resident's booking is a 404)."""

    booking_id: DbId


class SlotQuery(BaseModel):
    """The local day to show."""

    day: date = Field(ge=date(2000, 1, 1), le=date(2100, 12, 31), description="local date, YYYY-MM-DD")


class BookingListQuery(PageQuery):
    """Filter my bookings."""

    status: Literal[BOOKING_STATES] | None = None  # type: ignore[valid-type]
    upcoming: bool = Field(False, description="only bookings that have not ended")


class VenueOut(BaseModel):
    """A venue and its rules (as residents see them)."""

    id: int
    name: str
    description: str
    location: str
    capacity: int
    slot_minutes: int
    max_slots_per_booking: int
    opening_hours: dict[str, list[list[str]]]
    min_notice_minutes: int
    max_advance_days: int
    cancel_cutoff_minutes: int
    quota_active: int
    requires_approval: bool


class SlotOut(BaseModel):
    """A slot: free seats, never who booked."""

    starts_at: datetime
    ends_at: datetime
    capacity: int
    available: int
    bookable: bool
    reason: str | None


class SlotsOut(BaseModel):
    """The slots of one day."""

    venue_id: int
    day: date
    closed: str | None
    slots: list[SlotOut]


class BookingCreate(BaseModel):
    """Book consecutive slots, or queue on the waitlist if full."""

    venue_id: DbId
    starts_at: AwareDatetime = Field(description="slot start with its offset, e.g. 2026-11-21T14:00:00+08:00")
    slots: int = Field(1, ge=1, le=24)
    purpose: str = Field("", max_length=200)
    waitlist: bool = Field(False, description="join the waitlist when the slot is full instead of a 409")

    @field_validator("starts_at")
    @classmethod
    def _plausible(cls, value: datetime) -> datetime:
        if not 2000 <= value.year <= 2100:
            raise ValueError("starts_at must be between the years 2000 and 2100")
        return value


class BookingOut(BaseModel):
    """A booking as its owner sees it."""

    id: int
    venue_id: int
    venue_name: str
    starts_at: datetime
    ends_at: datetime
    status: str
    purpose: str
    offer_expires_at: datetime | None
    waitlist_position: int | None = None
    checked_in_at: datetime | None


class CheckinCode(BaseModel):
    """The signed, single-use code to show as a QR."""

    code: str
    booking_id: int


class CheckinBody(BaseModel):
    """A scanned check-in code."""

    code: str = Field(min_length=1, max_length=500)


class DecisionBody(BaseModel):
    """Approve or reject a pending booking."""

    approve: bool
    note: str | None = Field(None, max_length=200)


def _venue_out(v: Venue) -> dict[str, Any]:
    return VenueOut.model_validate(v, from_attributes=True).model_dump(mode="json")


def _booking_out(session: Any, b: Booking) -> dict[str, Any]:
    venue = session.get(Venue, b.venue_id)
    position = None
    if b.status == "waitlisted":
        position = (
            session.scalar(
                select(func.count(Booking.id)).where(
                    Booking.venue_id == b.venue_id,
                    Booking.status == "waitlisted",
                    Booking.starts_at < b.ends_at,
                    Booking.ends_at > b.starts_at,
                    Booking.id < b.id,
                )
            )
            or 0
        ) + 1
    return BookingOut(
        id=b.id,
        venue_id=b.venue_id,
        venue_name=venue.name if venue else "",
        starts_at=b.starts_at,
        ends_at=b.ends_at,
        status=b.status,
        purpose=b.purpose,
        offer_expires_at=b.offer_expires_at,
        waitlist_position=position,
        checked_in_at=b.checked_in_at,
    ).model_dump(mode="json")


def _visible_venue(session: Any, venue_id: int) -> Venue:
    venue = session.get(Venue, venue_id)
    resident = session.get(Resident, current_principal().resident_id)
    if venue is None or not venue.active:
        raise NotFound("没有这个场地")
    if resident is not None and resident.community_id not in (None, venue.community_id):
        raise NotFound("没有这个场地")
    return venue


def _policy() -> svc.BookingPolicy:
    return svc.BookingPolicy.from_settings(current_app.config)


@bp.get("/venues", responses=responses(Page[VenueOut]), summary="venues of my community")
@login_required
def list_venues(query: PageQuery) -> Any:
    """Active venues (of the caller's community once they are bound)."""
    session = db_session()
    resident = session.get(Resident, current_principal().resident_id)
    stmt = select(Venue).where(Venue.active.is_(True)).order_by(Venue.id)
    if resident is not None and resident.community_id is not None:
        stmt = stmt.where(Venue.community_id == resident.community_id)
    return paginate(session, stmt, query, _venue_out)


@bp.get("/venues/<int:venue_id>", responses=responses(VenueOut), summary="one venue and its rules")
@login_required
def get_venue(path: VenuePath) -> Any:
    """A venue's rules and opening hours."""
    return _venue_out(_visible_venue(db_session(), path.venue_id))


@bp.get("/venues/<int:venue_id>/slots", responses=responses(SlotsOut), summary="free seats per slot for a day")
@login_required
def venue_slots(path: VenuePath, query: SlotQuery) -> Any:
    """Every slot of a local day with free seats and whether it can be booked now."""
    session = db_session()
    venue = _visible_venue(session, path.venue_id)
    closure = svc.closure_on(session, venue, query.day)
    slots = svc.slot_availability(session, venue, query.day, now=clock.now())
    return SlotsOut(
        venue_id=venue.id,
        day=query.day,
        closed=(closure.reason or closure.kind) if closure else None,
        slots=[SlotOut(**s) for s in slots],
    ).model_dump(mode="json")


@bp.post("/bookings", responses=responses(BookingOut, status=201, errors=BOOKING_ERRORS), summary="book a venue")
@login_required
@idempotent
def create_booking(body: BookingCreate) -> Any:
    """Book (confirmed, or pending approval), or join the waitlist; 409 slot_full when full."""
    session = db_session()
    _visible_venue(session, body.venue_id)
    b = svc.book(
        session,
        venue_id=body.venue_id,
        resident_id=current_principal().resident_id,
        starts_at=body.starts_at,
        slots=body.slots,
        purpose=body.purpose,
        waitlist=body.waitlist,
        now=clock.now(),
    )
    out = _booking_out(session, b)
    session.commit()
    return out, 201


@bp.get("/bookings", responses=responses(Page[BookingOut]), summary="my bookings")
@login_required
def list_bookings(query: BookingListQuery) -> Any:
    """The caller's bookings, newest start first."""
    session = db_session()
    stmt = select(Booking).where(Booking.resident_id == current_principal().resident_id)
    if query.status:
        stmt = stmt.where(Booking.status == query.status)
    if query.upcoming:
        stmt = stmt.where(Booking.ends_at > clock.now())
    stmt = stmt.order_by(Booking.starts_at.desc(), Booking.id.desc())
    return paginate(session, stmt, query, lambda b: _booking_out(session, b))


@bp.get("/bookings/<int:booking_id>", responses=responses(BookingOut), summary="one of my bookings")
@login_required
def get_booking(path: BookingPath) -> Any:
    """A booking of the caller (another resident's → 404)."""
    session = db_session()
    return _booking_out(session, svc.get_for_resident(session, path.booking_id, current_principal().resident_id))


@bp.post("/bookings/<int:booking_id>/cancel", responses=responses(BookingOut, errors=BOOKING_ERRORS), summary="cancel")
@login_required
@idempotent
def cancel_booking(path: BookingPath) -> Any:
    """Cancel (before the cut-off) or leave the waitlist; the next in line is offered the seat."""
    session = db_session()
    b = svc.cancel(
        session,
        path.booking_id,
        resident_id=current_principal().resident_id,
        now=clock.now(),
        policy=_policy(),
    )
    out = _booking_out(session, b)
    commit_and_enqueue(session)  # the promoted resident's notification goes out after commit
    return out


@bp.post(
    "/bookings/<int:booking_id>/confirm",
    responses=responses(BookingOut, errors=BOOKING_ERRORS),
    summary="take an offer",
)
@login_required
@idempotent
def confirm_booking(path: BookingPath) -> Any:
    """Accept a waitlist offer within its confirmation window."""
    session = db_session()
    b = svc.confirm_offer(session, path.booking_id, resident_id=current_principal().resident_id, now=clock.now())
    out = _booking_out(session, b)
    session.commit()
    return out


@bp.get("/bookings/<int:booking_id>/checkin-code", responses=responses(CheckinCode), summary="my check-in QR code")
@login_required
def checkin_code(path: BookingPath) -> Any:
    """The signed single-use code to show at the venue (render it as a QR code)."""
    session = db_session()
    b = svc.get_for_resident(session, path.booking_id, current_principal().resident_id)
    if b.status != "confirmed":
        raise Conflict(f"预约状态为 {b.status}，只有已确认的预约可以签到", code="not_confirmed")
    return CheckinCode(code=svc.checkin_token(b, current_app.config["SECRET_KEY"]), booking_id=b.id).model_dump()


@bp.post("/checkin", responses=responses(BookingOut, errors=BOOKING_ERRORS), summary="scan a check-in code (staff)")
@require_roles("staff")
def scan_checkin(body: CheckinBody) -> Any:
    """Staff scan the resident's code; the code works once, within the check-in window."""
    session = db_session()
    b = svc.check_in(
        session,
        body.code,
        secret=current_app.config["SECRET_KEY"],
        staff_id=current_principal().staff_id,
        now=clock.now(),
    )
    out = _booking_out(session, b)
    session.commit()
    return out


@bp.get(
    "/venues/<int:venue_id>/pending",
    responses=responses(Page[BookingOut]),
    summary="bookings to approve (staff)",
)
@require_roles("staff")
def pending_bookings(path: VenuePath, query: PageQuery) -> Any:
    """Pending bookings of a venue in the staff member's community, oldest first."""
    session = db_session()
    venue = session.get(Venue, path.venue_id)
    if venue is None:
        raise NotFound("没有这个场地")
    svc.require_venue_staff(session, current_principal().staff_id, venue)
    stmt = select(Booking).where(Booking.venue_id == venue.id, Booking.status == "pending").order_by(Booking.id)
    return paginate(session, stmt, query, lambda b: _booking_out(session, b))


@bp.post(
    "/bookings/<int:booking_id>/decision",
    responses=responses(BookingOut, errors=BOOKING_ERRORS),
    summary="approve (staff)",
)
@require_roles("staff")
@idempotent
def decide_booking(path: BookingPath, body: DecisionBody) -> Any:
    """Approve or reject a pending booking; a rejection offers the seat to the waitlist."""
    session = db_session()
    b = svc.decide(
        session,
        path.booking_id,
        staff_id=current_principal().staff_id,
        approve=body.approve,
        note=body.note,
        now=clock.now(),
        policy=_policy(),
    )
    out = _booking_out(session, b)
    commit_and_enqueue(session)
    return out
