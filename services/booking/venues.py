"""Venue booking rules (社区场馆预约): slots, refusals, the seat guard, waitlist offers, check-in, no-shows.

The rule chain follows LibreBooking's: venue → ban → slot grid / opening hours → closures
→ notice window → duplicate → quota → capacity. The final word on capacity belongs to the database (see
models/booking.py): seats are rows with unique keys, so a check that raced still cannot store an extra booking.
On PostgreSQL the venue row is also locked (FOR UPDATE) so concurrent requests queue instead of colliding.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.clock import LOCAL_TZ
from models.booking import (
    ACTIVE_STATES,
    Booking,
    BookingBan,
    BookingSeat,
    NoShowStrike,
    Venue,
    VenueClosure,
    VenueSeat,
)
from models.resident import Resident
from models.staff import Staff
from services.errors import Conflict, DomainError, Forbidden, NotFound

# Staff roles that may approve bookings and scan check-in codes for venues of their community.
VENUE_STAFF_ROLES = (
    "community_staff",
    "community_secretary",
    "street_officer",
    "admin",
    "grid_leader",
    "grid_worker",
)


@dataclass(frozen=True)
class BookingPolicy:
    """Community-wide rules (settings): strikes → ban, waitlist offer window, reminder lead time."""

    strike_limit: int = 3
    strike_window: timedelta = timedelta(days=60)
    ban_length: timedelta = timedelta(days=14)
    offer_window: timedelta = timedelta(minutes=30)
    reminder_lead: timedelta = timedelta(hours=2)
    # Mini-program subscribe-message templates (wx.requestSubscribeMessage asks the resident for these).
    reminder_template: str = "booking-reminder"
    offer_template: str = "booking-offer"

    @classmethod
    def from_settings(cls, settings: Any) -> BookingPolicy:
        """Read BOOKING_* settings (a mapping such as app.config); missing keys keep the defaults."""
        d = cls()
        return cls(
            strike_limit=int(settings.get("BOOKING_STRIKE_LIMIT", d.strike_limit)),
            strike_window=timedelta(days=int(settings.get("BOOKING_STRIKE_WINDOW_DAYS", d.strike_window.days))),
            ban_length=timedelta(days=int(settings.get("BOOKING_BAN_DAYS", d.ban_length.days))),
            offer_window=timedelta(
                minutes=int(settings.get("BOOKING_OFFER_MINUTES", d.offer_window.total_seconds() // 60))
            ),
            reminder_lead=timedelta(
                minutes=int(settings.get("BOOKING_REMINDER_MINUTES", d.reminder_lead.total_seconds() // 60))
            ),
            reminder_template=str(settings.get("MINIAPP_TEMPLATE_BOOKING_REMINDER") or d.reminder_template),
            offer_template=str(settings.get("MINIAPP_TEMPLATE_BOOKING_OFFER") or d.offer_template),
        )


class BookingRefused(DomainError):
    """A booking rule said no (closed, outside opening hours, too late, quota …); the code names the rule."""

    status = 422
    code = "booking_refused"


# ---------------------------------------------------------------- venues and the slot grid


def create_venue(session: Session, *, community_id: int, name: str, capacity: int = 1, **rules: Any) -> Venue:
    """A venue with its seat rows 0..capacity-1 (the targets of the booking_seat foreign key)."""
    if capacity < 1:
        raise DomainError("容量至少为 1", code="invalid_capacity")
    venue = Venue(community_id=community_id, name=name, capacity=capacity, **rules)
    session.add(venue)
    session.flush()
    session.add_all(VenueSeat(venue_id=venue.id, seat_no=n) for n in range(capacity))
    session.flush()
    return venue


def set_capacity(session: Session, venue: Venue, capacity: int) -> None:
    """Grow or shrink a venue; a seat held by any booking row cannot be removed (Conflict)."""
    if capacity < 1:
        raise DomainError("容量至少为 1", code="invalid_capacity")
    locked = _lock_venue(session, venue.id)
    if capacity > locked.capacity:
        session.add_all(VenueSeat(venue_id=venue.id, seat_no=n) for n in range(locked.capacity, capacity))
    elif capacity < locked.capacity:
        in_use = session.scalar(
            select(func.count(BookingSeat.id)).where(BookingSeat.venue_id == venue.id, BookingSeat.seat_no >= capacity)
        )
        if in_use:
            raise Conflict("超出新容量的座位已有预约，请先取消这些预约", code="seats_in_use")
        session.execute(delete(VenueSeat).where(VenueSeat.venue_id == venue.id, VenueSeat.seat_no >= capacity))
    locked.capacity = capacity
    session.flush()


def _periods(venue: Venue, day: date) -> list[tuple[datetime, datetime]]:
    """Opening periods of `day` as aware UTC datetimes (opening hours are local times)."""
    result = []
    for start_s, end_s in (venue.opening_hours or {}).get(str(day.weekday()), []):
        start = datetime.combine(day, time.fromisoformat(start_s), LOCAL_TZ)
        end = datetime.combine(day, time.fromisoformat(end_s), LOCAL_TZ)
        if end > start:
            result.append((start.astimezone(UTC), end.astimezone(UTC)))
    return result


def day_slots(venue: Venue, day: date) -> list[tuple[datetime, datetime]]:
    """The bookable slots of a local day, in order (no closures applied)."""
    step = timedelta(minutes=venue.slot_minutes)
    slots = []
    for start, end in _periods(venue, day):
        t = start
        while t + step <= end:
            slots.append((t, t + step))
            t += step
    return slots


def closure_on(session: Session, venue: Venue, day: date) -> VenueClosure | None:
    """The blackout or holiday closing this venue on `day`, if any."""
    stmt = select(VenueClosure).where(
        VenueClosure.community_id == venue.community_id,
        VenueClosure.day == day,
        or_(VenueClosure.venue_id == venue.id, VenueClosure.venue_id.is_(None)),
    )
    for closure in session.scalars(stmt):
        if closure.kind == "holiday" and closure.venue_id is None and not venue.closed_on_holidays:
            continue
        return closure
    return None


def _requested_slots(venue: Venue, starts_at: datetime, slots: int) -> list[datetime]:
    """The slot starts a request covers; refuses anything off the grid or spanning a break."""
    if starts_at.tzinfo is None:
        raise BookingRefused("starts_at needs a time zone", code="naive_datetime")
    if slots < 1 or slots > venue.max_slots_per_booking:
        raise BookingRefused(
            f"book between 1 and {venue.max_slots_per_booking} consecutive slots", code="too_many_slots"
        )
    local = starts_at.astimezone(LOCAL_TZ)
    grid = day_slots(venue, local.date())
    starts = [s for s, _ in grid]
    if local not in starts:
        raise BookingRefused("that time is not a slot start within the opening hours", code="outside_opening_hours")
    i = starts.index(local)
    chosen = grid[i : i + slots]
    if len(chosen) < slots or any(chosen[k][1] != chosen[k + 1][0] for k in range(len(chosen) - 1)):
        raise BookingRefused("the slots must be consecutive within one opening period", code="outside_opening_hours")
    return [s for s, _ in chosen]


# ---------------------------------------------------------------- queries


def _lock_venue(session: Session, venue_id: int) -> Venue:
    venue = session.get(Venue, venue_id, with_for_update=True)  # PostgreSQL row lock; SQLite: BEGIN IMMEDIATE
    if venue is None or not venue.active:
        raise NotFound("没有这个场地")
    return venue


def taken_counts(session: Session, venue_id: int, slot_starts: list[datetime]) -> dict[datetime, int]:
    """How many seats are held in each slot."""
    if not slot_starts:
        return {}
    rows = session.execute(
        select(BookingSeat.slot_start, func.count(BookingSeat.id))
        .where(BookingSeat.venue_id == venue_id, BookingSeat.slot_start.in_(slot_starts))
        .group_by(BookingSeat.slot_start)
    )
    return {start: n for start, n in rows}


def _free_seat(session: Session, venue: Venue, slot_start: datetime) -> int | None:
    taken = set(
        session.scalars(
            select(BookingSeat.seat_no).where(BookingSeat.venue_id == venue.id, BookingSeat.slot_start == slot_start)
        )
    )
    return next((n for n in range(venue.capacity) if n not in taken), None)


def active_ban(session: Session, resident_id: int, now: datetime) -> BookingBan | None:
    """The ban in force for this resident, if any."""
    return session.scalar(
        select(BookingBan)
        .where(
            BookingBan.resident_id == resident_id,
            BookingBan.starts_at <= now,
            BookingBan.ends_at > now,
            BookingBan.lifted_at.is_(None),
        )
        .order_by(BookingBan.ends_at.desc())
        .limit(1)
    )


def active_count(session: Session, resident_id: int, now: datetime) -> int:
    """Future active bookings (pending, confirmed, offered) of a resident, across venues."""
    return (
        session.scalar(
            select(func.count(Booking.id)).where(
                Booking.resident_id == resident_id, Booking.status.in_(ACTIVE_STATES), Booking.ends_at > now
            )
        )
        or 0
    )


def slot_availability(session: Session, venue: Venue, day: date, *, now: datetime) -> list[dict[str, Any]]:
    """Every slot of a local day with free seats and whether it can be booked now (never who booked)."""
    slots = day_slots(venue, day)
    taken = taken_counts(session, venue.id, [s for s, _ in slots])
    closure = closure_on(session, venue, day)
    result = []
    for start, end in slots:
        free = venue.capacity - taken.get(start, 0)
        reason = None
        if closure is not None:
            reason = "venue_closed"
        elif start - now < timedelta(minutes=venue.min_notice_minutes):
            reason = "too_late_to_book"
        elif start - now > timedelta(days=venue.max_advance_days):
            reason = "too_far_ahead"
        elif free <= 0:
            reason = "slot_full"
        result.append(
            {"starts_at": start, "ends_at": end, "capacity": venue.capacity, "available": max(free, 0),
             "bookable": reason is None, "reason": reason}
        )  # fmt: skip
    return result


def get_for_resident(session: Session, booking_id: int, resident_id: int, *, lock: bool = False) -> Booking:
    """A booking of this resident (another resident's booking is 'not found', so ids reveal nothing)."""
    stmt = select(Booking).where(Booking.id == booking_id, Booking.resident_id == resident_id)
    booking = session.scalar(stmt.with_for_update() if lock else stmt)
    if booking is None:
        raise NotFound("没有这条预约")
    return booking


# ---------------------------------------------------------------- booking


def book(
    session: Session,
    *,
    venue_id: int,
    resident_id: int,
    starts_at: datetime,
    now: datetime,
    slots: int = 1,
    purpose: str = "",
    waitlist: bool = False,
) -> Booking:
    """Book `slots` consecutive slots from `starts_at`, or join the waitlist when full and `waitlist` is set."""
    venue = _lock_venue(session, venue_id)
    resident = session.get(Resident, resident_id, with_for_update=True)  # serialises one resident's quota checks
    if resident is None:
        raise NotFound("没有这位居民")
    ban = active_ban(session, resident_id, now)
    if ban is not None:
        until = ban.ends_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
        raise Forbidden(f"多次预约未到，{until} 前暂停预约", code="booking_banned")
    slot_starts = _requested_slots(venue, starts_at, slots)
    local_day = slot_starts[0].astimezone(LOCAL_TZ).date()
    closure = closure_on(session, venue, local_day)
    if closure is not None:
        label = "a holiday" if closure.kind == "holiday" else "closed"
        raise BookingRefused(f"the venue is {label} on {local_day}: {closure.reason}".rstrip(": "), code="venue_closed")
    first = slot_starts[0]
    ends_at = slot_starts[-1] + timedelta(minutes=venue.slot_minutes)
    if first <= now:
        raise BookingRefused("that slot has already started", code="slot_in_past")
    if first - now < timedelta(minutes=venue.min_notice_minutes):
        raise BookingRefused(
            f"book at least {venue.min_notice_minutes} minutes before the start", code="too_late_to_book"
        )
    if first - now > timedelta(days=venue.max_advance_days):
        raise BookingRefused(f"bookings open {venue.max_advance_days} days ahead", code="too_far_ahead")
    overlapping = session.scalar(
        select(Booking.id).where(
            Booking.resident_id == resident_id,
            Booking.venue_id == venue.id,
            Booking.status.in_((*ACTIVE_STATES, "waitlisted", "checked_in")),
            Booking.starts_at < ends_at,
            Booking.ends_at > first,
        )
    )
    if overlapping is not None:
        raise Conflict("您在这个时段已有预约或候补", code="already_booked")
    if active_count(session, resident_id, now) >= venue.quota_active:
        raise Forbidden(
            f"您已有 {venue.quota_active} 个未到期的预约，请先取消一个",
            code="quota_exceeded",
        )

    seats = {s: _free_seat(session, venue, s) for s in slot_starts}
    if any(n is None for n in seats.values()):
        if not waitlist:
            raise Conflict("这个时段已满，可以加入候补", code="slot_full")
        booking = Booking(
            venue_id=venue.id, resident_id=resident_id, starts_at=first, ends_at=ends_at, status="waitlisted",
            purpose=purpose,
        )  # fmt: skip
        session.add(booking)
        session.flush()
        return booking

    booking = Booking(
        venue_id=venue.id,
        resident_id=resident_id,
        starts_at=first,
        ends_at=ends_at,
        status="pending" if venue.requires_approval else "confirmed",
        purpose=purpose,
    )
    try:
        with session.begin_nested():
            session.add(booking)
            session.flush()
            _hold_seats(session, booking, seats)
    except IntegrityError as e:
        raise _conflict_from(e) from None
    return booking


def _hold_seats(session: Session, booking: Booking, seats: dict[datetime, int | None]) -> None:
    session.add_all(
        BookingSeat(booking_id=booking.id, venue_id=booking.venue_id, resident_id=booking.resident_id,
                    slot_start=start, seat_no=seat)
        for start, seat in seats.items()
    )  # fmt: skip
    session.flush()


def _conflict_from(e: IntegrityError) -> Conflict:
    text = str(e.orig)
    if "slot_resident" in text or "resident_overlap" in text or "resident_id" in text:
        return Conflict("您在这个时段已有预约", code="already_booked")
    return Conflict("这个时段刚被订走，请换一个时段", code="slot_full")


def _release(session: Session, booking: Booking) -> None:
    """Free the seats a booking held."""
    session.execute(delete(BookingSeat).where(BookingSeat.booking_id == booking.id))


def cancel(session: Session, booking_id: int, *, resident_id: int, now: datetime, policy: BookingPolicy) -> Booking:
    """Cancel one's own booking or leave the waitlist; frees the seats and offers them to the next in line."""
    booking = get_for_resident(session, booking_id, resident_id, lock=True)
    venue = _lock_venue(session, booking.venue_id)
    if booking.status in ("waitlisted", "offered"):
        pass  # leaving the queue or declining an offer is always allowed
    elif booking.status in ("pending", "confirmed"):
        if booking.starts_at - now < timedelta(minutes=venue.cancel_cutoff_minutes):
            raise Conflict(
                f"开始前 {venue.cancel_cutoff_minutes} 分钟内不能取消",
                code="too_late_to_cancel",
            )
    else:
        raise Conflict(f"状态为 {booking.status} 的预约不能取消", code="not_cancellable")
    held = booking.status != "waitlisted"
    booking.status = "cancelled"
    booking.cancelled_at = now
    _release(session, booking)
    session.flush()
    if held:
        promote_waitlist(session, venue, booking.starts_at, booking.ends_at, now=now, policy=policy)
    return booking


def promote_waitlist(
    session: Session,
    venue: Venue,
    starts_at: datetime,
    ends_at: datetime,
    *,
    now: datetime,
    policy: BookingPolicy,
) -> list[Booking]:
    """Offer freed seats to waitlisted bookings overlapping [starts_at, ends_at), first come first served.

    An offer holds its seats until `offer_expires_at` (the confirmation window, never past the start); a
    waiting resident who is banned or at their quota is skipped and stays in line.
    """
    offered: list[Booking] = []
    waiting = session.scalars(
        select(Booking)
        .where(
            Booking.venue_id == venue.id,
            Booking.status == "waitlisted",
            Booking.starts_at < ends_at,
            Booking.ends_at > starts_at,
        )
        .order_by(Booking.id)
        .with_for_update()
    ).all()
    step = timedelta(minutes=venue.slot_minutes)
    for candidate in waiting:
        if candidate.starts_at <= now:
            candidate.status = "expired"
            continue
        if active_ban(session, candidate.resident_id, now) is not None:
            continue
        if active_count(session, candidate.resident_id, now) >= venue.quota_active:
            continue
        starts = []
        t = candidate.starts_at
        while t < candidate.ends_at:
            starts.append(t)
            t += step
        seats = {s: _free_seat(session, venue, s) for s in starts}
        if any(n is None for n in seats.values()):
            continue
        _hold_seats(session, candidate, seats)
        candidate.status = "offered"
        candidate.offer_expires_at = min(now + policy.offer_window, candidate.starts_at)
        offered.append(candidate)
        _notify_offer(session, venue, candidate, policy)
    session.flush()
    return offered


def _notify_offer(session: Session, venue: Venue, booking: Booking, policy: BookingPolicy) -> None:
    """Tell the promoted resident (subscribe message, or chat within the service window); sent after commit."""
    from services.notifications.notify import notify_resident  # notifications are another area's; imported where used

    assert booking.offer_expires_at is not None
    deadline = booking.offer_expires_at.astimezone(LOCAL_TZ).strftime("%H:%M")
    start = booking.starts_at.astimezone(LOCAL_TZ).strftime("%m-%d %H:%M")
    notify_resident(
        session,
        booking.resident_id,
        f"候补成功：{venue.name} {start} 有空位了，请在 {deadline} 前确认，逾时将让给下一位。",
        key=f"booking-{booking.id}-offer",
        template={
            "kind": "mp_subscribe",
            "template_id": policy.offer_template,
            "data": {
                "thing1": {"value": venue.name},
                "time2": {"value": start},
                "thing3": {"value": f"{deadline}前确认"},
            },
            "page": f"pages/booking/detail?id={booking.id}",
        },
        related=("booking", booking.id),
    )


def confirm_offer(session: Session, booking_id: int, *, resident_id: int, now: datetime) -> Booking:
    """Accept a waitlist offer within its window (then it is pending approval or confirmed)."""
    booking = get_for_resident(session, booking_id, resident_id, lock=True)
    if booking.status != "offered":
        raise Conflict("这条预约没有待确认的候补名额", code="no_offer")
    if booking.offer_expires_at is None or booking.offer_expires_at <= now:
        raise Conflict("候补名额的确认时间已过", code="offer_expired")
    venue = session.get(Venue, booking.venue_id)
    booking.status = "pending" if venue is not None and venue.requires_approval else "confirmed"
    booking.offer_expires_at = None
    session.flush()
    return booking


def expire_offers(session: Session, *, now: datetime, policy: BookingPolicy) -> int:
    """Release offers not confirmed in time and offer the seats to the next in line; returns how many expired."""
    ids = session.scalars(
        select(Booking.id).where(Booking.status == "offered", Booking.offer_expires_at <= now).order_by(Booking.id)
    ).all()
    expired = 0
    for booking_id in ids:
        booking = session.get(Booking, booking_id, with_for_update=True, populate_existing=True)
        if booking is None or booking.status != "offered":
            continue
        venue = _lock_venue(session, booking.venue_id)
        booking.status = "expired"
        _release(session, booking)
        session.flush()
        promote_waitlist(session, venue, booking.starts_at, booking.ends_at, now=now, policy=policy)
        expired += 1
    return expired


# ---------------------------------------------------------------- staff: approval


def require_venue_staff(session: Session, staff_id: int | None, venue: Venue) -> Staff:
    """The staff member, if they may manage this venue's bookings (Forbidden / NotFound otherwise)."""
    staff = session.get(Staff, staff_id) if staff_id else None
    if staff is None or not staff.active or staff.role not in VENUE_STAFF_ROLES:
        raise Forbidden("只有社区工作人员可以管理场地预约")
    if staff.community_id != venue.community_id:
        raise NotFound("没有这条预约")
    return staff


def staff_get(session: Session, booking_id: int, staff_id: int | None, *, lock: bool = False) -> Booking:
    """A booking of a venue in the staff member's community."""
    stmt = select(Booking).where(Booking.id == booking_id)
    booking = session.scalar(stmt.with_for_update() if lock else stmt)
    if booking is None:
        raise NotFound("没有这条预约")
    venue = session.get(Venue, booking.venue_id)
    assert venue is not None
    require_venue_staff(session, staff_id, venue)
    return booking


def decide(
    session: Session,
    booking_id: int,
    *,
    staff_id: int | None,
    approve: bool,
    note: str | None,
    now: datetime,
    policy: BookingPolicy,
) -> Booking:
    """Approve or reject a pending booking; a rejection frees its seats for the waitlist."""
    booking = staff_get(session, booking_id, staff_id, lock=True)
    if booking.status != "pending":
        raise Conflict(f"只有待审核的预约可以审批（这条是 {booking.status}）", code="not_pending")
    booking.decided_by_staff_id = staff_id
    booking.decision_note = note
    if approve:
        booking.status = "confirmed"
        session.flush()
        return booking
    venue = _lock_venue(session, booking.venue_id)
    booking.status = "rejected"
    _release(session, booking)
    session.flush()
    promote_waitlist(session, venue, booking.starts_at, booking.ends_at, now=now, policy=policy)
    return booking


# ---------------------------------------------------------------- check-in by QR code

_CHECKIN_SALT = "hongguan.booking.checkin"


def checkin_token(booking: Booking, secret: str) -> str:
    """The signed code shown as a QR: names the booking and its current single-use nonce."""
    return URLSafeSerializer(secret, salt=_CHECKIN_SALT).dumps({"b": booking.id, "n": booking.checkin_nonce})


def check_in(session: Session, token: str, *, secret: str, staff_id: int | None, now: datetime) -> Booking:
    """Staff scan a resident's code: valid signature, right window, confirmed booking; the code then dies."""
    try:
        payload = URLSafeSerializer(secret, salt=_CHECKIN_SALT).loads(token)
    except BadSignature:
        raise DomainError("这不是有效的签到码", code="invalid_code") from None
    booking_id = payload.get("b") if isinstance(payload, dict) else None
    if not isinstance(booking_id, int) or isinstance(booking_id, bool):
        raise DomainError("这不是有效的签到码", code="invalid_code")
    booking = staff_get(session, booking_id, staff_id, lock=True)
    if payload.get("n") != booking.checkin_nonce:
        raise Conflict("这个签到码已经用过", code="code_used")
    if booking.status == "checked_in":  # pragma: no cover - the nonce rotates on check-in
        raise Conflict("已经签到", code="code_used")
    if booking.status != "confirmed":
        raise Conflict(f"预约状态为 {booking.status}，不是已确认", code="not_confirmed")
    venue = session.get(Venue, booking.venue_id)
    assert venue is not None
    opens = booking.starts_at - timedelta(minutes=venue.checkin_opens_minutes)
    closes = booking.starts_at + timedelta(minutes=venue.no_show_after_minutes)
    if now < opens:
        local = opens.astimezone(LOCAL_TZ).strftime("%H:%M")
        raise Conflict(f"签到 {local} 开始", code="too_early")
    if now > closes:
        raise Conflict("这条预约的签到已结束", code="too_late")
    booking.status = "checked_in"
    booking.checked_in_at = now
    booking.checked_in_by_staff_id = staff_id
    booking.checkin_nonce = uuid.uuid4().hex  # single use: the scanned code no longer matches
    session.flush()
    return booking


# ---------------------------------------------------------------- no-shows, strikes and bans


def release_no_shows(session: Session, *, now: datetime, policy: BookingPolicy) -> list[int]:
    """Mark confirmed bookings not checked in N minutes after the start as no-shows, free them, record strikes."""
    candidates = session.execute(
        select(Booking.id, Venue.no_show_after_minutes)
        .join(Venue, Venue.id == Booking.venue_id)
        .where(Booking.status == "confirmed", Booking.starts_at <= now)
        .order_by(Booking.id)
    ).all()
    released: list[int] = []
    for booking_id, grace in candidates:
        booking = session.get(Booking, booking_id, with_for_update=True, populate_existing=True)
        if booking is None or booking.status != "confirmed":
            continue  # checked in meanwhile, or another run got it
        if booking.starts_at + timedelta(minutes=grace) > now:
            continue
        booking.status = "no_show"
        booking.released_at = now
        _release(session, booking)
        strike = NoShowStrike(resident_id=booking.resident_id, booking_id=booking.id, created_at=now)
        session.add(strike)
        session.flush()
        _maybe_ban(session, booking.resident_id, strike, now=now, policy=policy)
        released.append(booking.id)
    session.flush()
    return released


def _maybe_ban(
    session: Session, resident_id: int, strike: NoShowStrike, *, now: datetime, policy: BookingPolicy
) -> None:
    if active_ban(session, resident_id, now) is not None:
        return
    recent = session.scalar(
        select(func.count(NoShowStrike.id)).where(
            NoShowStrike.resident_id == resident_id, NoShowStrike.created_at > now - policy.strike_window
        )
    )
    if (recent or 0) >= policy.strike_limit:
        session.add(
            BookingBan(
                resident_id=resident_id,
                starts_at=now,
                ends_at=now + policy.ban_length,
                strike_id=strike.id,
                reason=f"{recent} no-shows within {policy.strike_window.days} days",
            )
        )
        session.flush()


def lift_ban(session: Session, resident_id: int, *, staff_id: int, now: datetime) -> bool:
    """Staff lift a ban (a resident's appeal succeeded); True if one was in force."""
    ban = active_ban(session, resident_id, now)
    if ban is None:
        return False
    ban.lifted_at = now
    ban.lifted_by_staff_id = staff_id
    session.flush()
    return True


# ---------------------------------------------------------------- reminders


def queue_reminders(session: Session, *, now: datetime, policy: BookingPolicy) -> list[int]:
    """Remind confirmed bookings starting within the lead time, once each (reminder_queued_at marks them).

    The reminder goes through services.notifications.notify (outbox → jobs.notifications): a mini-program
    subscribe message when the resident granted one for the template, else chat if they are in the official
    account's service window.
    The caller commits with jobs.outbox.commit_and_enqueue.
    """
    from services.notifications.notify import notify_resident  # notifications are another area's; imported where used

    ids = session.scalars(
        select(Booking.id).where(
            Booking.status == "confirmed",
            Booking.reminder_queued_at.is_(None),
            Booking.starts_at > now,
            Booking.starts_at <= now + policy.reminder_lead,
        )
    ).all()
    for booking_id in ids:
        booking = session.get(Booking, booking_id, with_for_update=True, populate_existing=True)
        if booking is None or booking.reminder_queued_at is not None:
            continue
        booking.reminder_queued_at = now
        venue = session.get(Venue, booking.venue_id)
        assert venue is not None
        start = booking.starts_at.astimezone(LOCAL_TZ).strftime("%m-%d %H:%M")
        notify_resident(
            session,
            booking.resident_id,
            f"预约提醒：{venue.name} {start}，请按时到场签到，不能前来请提前取消。",
            key=f"booking-{booking.id}-reminder",
            template={
                "kind": "mp_subscribe",
                "template_id": policy.reminder_template,
                "data": reminder_payload(session, booking),
                "page": f"pages/booking/detail?id={booking.id}",
            },
            related=("booking", booking.id),
        )
    session.flush()
    return list(ids)


def reminder_payload(session: Session, booking: Booking) -> dict[str, Any]:
    """The subscribe-message data for a reminder (thing values ≤ 20 chars: WeChat's 47003 rule)."""
    venue = session.get(Venue, booking.venue_id)
    assert venue is not None
    start = booking.starts_at.astimezone(LOCAL_TZ)
    return {
        "thing1": {"value": venue.name[:20]},
        "time2": {"value": start.strftime("%Y-%m-%d %H:%M")},
        "thing3": {"value": (venue.location or venue.name)[:20]},
    }


# ---------------------------------------------------------------- demo data


def seed_demo_venues(session: Session, community_id: int) -> dict[str, Venue]:
    """Two venues for the demo community: a meeting room (capacity 1) and a reading room (8 seats)."""
    existing = {v.name: v for v in session.scalars(select(Venue).where(Venue.community_id == community_id))}
    if existing:
        return existing
    weekdays = {str(d): [["09:00", "12:00"], ["14:00", "21:00"]] for d in range(7)}
    return {
        "会议室": create_venue(
            session, community_id=community_id, name="党群服务中心会议室", capacity=1, location="党群服务中心2楼",
            opening_hours=weekdays, requires_approval=True,
        ),
        "阅览室": create_venue(
            session, community_id=community_id, name="社区阅览室", capacity=8, location="党群服务中心1楼",
            opening_hours=weekdays,
        ),
    }  # fmt: skip
