"""Event signup (活动报名): capacity, window, eligibility, FIFO waitlist with auto-promotion, QR check-in.

Capacity holds under concurrency twice over: every signup and cancellation first locks
the event row (`SELECT … FOR UPDATE` on PostgreSQL; BEGIN IMMEDIATE already serialises SQLite), and the seat
counter moves only through `UPDATE event SET confirmed_count = confirmed_count + 1 WHERE confirmed_count <
capacity`, with a CHECK as the backstop. UNIQUE(event, resident) stops double signups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from infra import clock
from models import Resident, Staff
from models.events import Event, EventSignup
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound
from services.points import ledger as points

QR_KIND = "evt"
ORGANISER_ROLES = ("grid_worker", "grid_leader", "community_staff", "community_secretary", "admin")
CHECKIN_OPENS_BEFORE = timedelta(hours=1)  # check-in opens an hour before the start …
CHECKIN_CLOSES_AFTER = timedelta(hours=2)  # … and closes two hours after the end


def _organiser(session: Session, staff_id: int, community_id: int, grid_id: int | None) -> Staff:
    """The staff member, if they may organise events in this community (grid staff only in their grid)."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.role not in ORGANISER_ROLES:
        raise Forbidden("无权组织社区活动", code="not_organiser")
    if staff.community_id not in (None, community_id):
        raise Forbidden("只能管理本社区的活动", code="other_community")
    if staff.role in ("grid_worker", "grid_leader") and (grid_id is None or staff.grid_id != grid_id):
        raise Forbidden("网格员只能管理本网格的活动", code="other_grid")
    return staff


def create_event(
    session: Session,
    staff_id: int,
    *,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int,
    signup_opens_at: datetime | None = None,
    signup_closes_at: datetime | None = None,
    community_id: int | None = None,
    grid_id: int | None = None,
    volunteers_only: bool = False,
    waitlist_capacity: int = 20,
    points_on_attendance: int = 0,
    description: str = "",
    location: str = "",
) -> Event:
    """Publish an event; the signup window defaults to now … the start."""
    staff = session.get(Staff, staff_id)
    community_id = community_id or (staff.community_id if staff else None)
    if community_id is None:
        raise DomainError("请指定活动所属社区", code="community_required")
    _organiser(session, staff_id, community_id, grid_id)
    now = clock.now()
    opens = signup_opens_at or now
    closes = signup_closes_at or starts_at
    title = (title or "").strip()
    if not title:
        raise DomainError("活动标题不能为空", code="title_required")
    if capacity <= 0:
        raise DomainError("活动名额必须大于 0", code="bad_capacity")
    if waitlist_capacity < 0 or points_on_attendance < 0:
        raise DomainError("候补名额和积分不能为负数", code="bad_numbers")
    if ends_at <= starts_at:
        raise DomainError("结束时间必须晚于开始时间", code="bad_times")
    if closes <= opens:
        raise DomainError("报名截止时间必须晚于开始报名时间", code="bad_window")
    if closes > starts_at:
        raise DomainError("报名须在活动开始前截止", code="bad_window")
    event = Event(
        community_id=community_id,
        grid_id=grid_id,
        volunteers_only=volunteers_only,
        title=title[:100],
        description=description,
        location=location[:200],
        starts_at=starts_at,
        ends_at=ends_at,
        signup_opens_at=opens,
        signup_closes_at=closes,
        capacity=capacity,
        waitlist_capacity=waitlist_capacity,
        points_on_attendance=points_on_attendance,
        created_by_staff_id=staff_id,
    )
    session.add(event)
    session.flush()
    return event


def _lock_event(session: Session, event_id: int) -> Event:
    event = session.scalar(
        select(Event).where(Event.id == event_id).with_for_update().execution_options(populate_existing=True)
    )
    if event is None:
        raise NotFound("活动不存在")
    return event


@dataclass(frozen=True)
class SignupResult:
    """The signup and, for a waitlisted one, its 1-based position."""

    signup: EventSignup
    position: int | None


def waitlist_position(session: Session, signup: EventSignup) -> int | None:
    """1-based FIFO position of a waitlisted signup, None otherwise."""
    if signup.status != "waitlisted":
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(EventSignup)
        .where(
            EventSignup.event_id == signup.event_id,
            EventSignup.status == "waitlisted",
            (EventSignup.queued_at < signup.queued_at)
            | ((EventSignup.queued_at == signup.queued_at) & (EventSignup.id < signup.id)),
        )
    )
    return int(ahead or 0) + 1


def signup(session: Session, event_id: int, resident_id: int) -> SignupResult:
    """Take a seat, or a waitlist place when full; refuses outside the window or when not eligible."""
    event = _lock_event(session, event_id)
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound("居民不存在")
    now = clock.now()
    if event.status != "published":
        raise Conflict("活动已取消", code="event_cancelled")
    if now < event.signup_opens_at:
        raise Conflict("报名尚未开始", code="signup_not_open")
    if now >= event.signup_closes_at:
        raise Conflict("报名已截止", code="signup_closed")
    if event.community_id != resident.community_id:
        raise Forbidden("仅限本社区居民报名", code="not_eligible")
    if event.grid_id is not None and resident.grid_id != event.grid_id:
        raise Forbidden("仅限本网格居民报名", code="not_eligible")
    if event.volunteers_only and not resident.is_volunteer:
        raise Forbidden("该活动仅限志愿者报名", code="volunteers_only")
    row = session.scalar(
        select(EventSignup)
        .where(EventSignup.event_id == event.id, EventSignup.resident_id == resident_id)
        .execution_options(populate_existing=True)
    )
    if row is not None and row.status != "cancelled":
        raise Conflict("您已报名该活动" if row.status == "confirmed" else "您已在候补名单中", code="already_signed_up")
    # The conditional increment is the capacity guard (and the CHECK constraint its backstop).
    seat = session.execute(
        update(Event)
        .where(Event.id == event.id, Event.confirmed_count < Event.capacity)
        .values(confirmed_count=Event.confirmed_count + 1)
        .returning(Event.confirmed_count)
    ).scalar()
    if seat is None:
        waiting = session.scalar(
            select(func.count())
            .select_from(EventSignup)
            .where(EventSignup.event_id == event.id, EventSignup.status == "waitlisted")
        )
        if waiting >= event.waitlist_capacity:
            raise Conflict("名额已满，候补名单也已满", code="event_full")
        status = "waitlisted"
    else:
        status = "confirmed"
    if row is None:
        row = EventSignup(event_id=event.id, resident_id=resident_id, status=status, queued_at=now)
        row.qr_nonce = points.new_nonce()
        session.add(row)
    else:  # signing up again after a cancellation: back of the queue, a fresh QR code
        row.status, row.queued_at, row.cancelled_at, row.promoted_at = status, now, None, None
        row.qr_nonce = points.new_nonce()
    session.flush()
    session.refresh(event)
    return SignupResult(row, waitlist_position(session, row))


def cancel(session: Session, event_id: int, resident_id: int) -> tuple[EventSignup, EventSignup | None]:
    """Cancel a signup; a freed seat goes to the first waiting person in the same transaction.

    Returns (the cancelled signup, the promoted signup or None).
    """
    event = _lock_event(session, event_id)
    row = session.scalar(
        select(EventSignup)
        .where(EventSignup.event_id == event.id, EventSignup.resident_id == resident_id)
        .execution_options(populate_existing=True)
    )
    if row is None or row.status == "cancelled":
        raise NotFound("您没有报名该活动")
    now = clock.now()
    if now >= event.starts_at:
        raise InvalidTransition("活动已开始，不能取消报名")
    if row.checked_in_at is not None:
        raise InvalidTransition("已签到，不能取消报名")
    was_confirmed = row.status == "confirmed"
    row.status, row.cancelled_at = "cancelled", now
    session.flush()
    promoted = None
    if was_confirmed:
        promoted = session.scalar(
            select(EventSignup)
            .where(EventSignup.event_id == event.id, EventSignup.status == "waitlisted")
            .order_by(EventSignup.queued_at, EventSignup.id)
            .limit(1)
            .with_for_update()
        )
        if promoted is not None:
            # The seat passes straight on: the counter does not move.
            promoted.status, promoted.promoted_at = "confirmed", now
        else:
            session.execute(
                update(Event)
                .where(Event.id == event.id, Event.confirmed_count > 0)
                .values(confirmed_count=Event.confirmed_count - 1)
            )
    session.flush()
    session.refresh(event)
    return row, promoted


def qr_for(secret: str, row: EventSignup) -> str:
    """The signed check-in QR payload of a signup (shown only to its owner)."""
    return points.sign_qr(secret, QR_KIND, row.id, row.qr_nonce)


def check_in(session: Session, token: str, staff_id: int, *, secret: str) -> EventSignup:
    """An organiser scans the attendee's QR: single use, confirmed signups only, points through the ledger."""
    signup_id, nonce = points.verify_qr(secret, QR_KIND, token)
    row = session.get(EventSignup, signup_id)
    if row is None or row.qr_nonce != nonce:
        raise NotFound("报名记录不存在或二维码已失效")
    event = session.get(Event, row.event_id)
    assert event is not None
    _organiser(session, staff_id, event.community_id, event.grid_id)
    record_attendance(
        session, EventSignup, row, starts_at=event.starts_at, ends_at=event.ends_at, staff_id=staff_id,
        points_amount=event.points_on_attendance, source_type="event_signup",
        key=f"event_attendance:{event.id}:{row.resident_id}", reason=f"参加活动：{event.title}",
    )  # fmt: skip
    return row


def record_attendance(
    session: Session,
    model: type[Any],
    row: Any,
    *,
    starts_at: datetime,
    ends_at: datetime,
    staff_id: int | None,
    points_amount: int,
    source_type: str,
    key: str,
    reason: str,
    **values: Any,
) -> None:
    """Check a confirmed sign-up in once, inside its window, and credit its attendance points through the ledger.

    Shared by event sign-ups and call-up shifts (`model` is the sign-up table, with status, checked_in_at,
    checked_in_by_staff_id, ledger_id). Single use: the predicate is in the UPDATE, so of two simultaneous scans
    exactly one succeeds.
    """
    now = clock.now()
    if now < starts_at - CHECKIN_OPENS_BEFORE:
        raise Conflict("签到尚未开始", code="checkin_not_open")
    if now > ends_at + CHECKIN_CLOSES_AFTER:
        raise Conflict("签到已结束", code="checkin_closed")
    done = session.execute(
        update(model)
        .where(model.id == row.id, model.status == "confirmed", model.checked_in_at.is_(None))
        .values(checked_in_at=now, checked_in_by_staff_id=staff_id, updated_at=now, **values)
        .returning(model.id)
    ).scalar()
    session.refresh(row)
    if done is None:
        if row.checked_in_at is not None:
            raise Conflict("已签到，二维码不能重复使用", code="already_checked_in")
        raise Conflict("该报名未确认（候补或已取消），不能签到", code="not_confirmed")
    if points_amount > 0:
        posting = points.post(
            session,
            row.resident_id,
            points_amount,
            kind="earn",
            source_type=source_type,
            source_id=row.id,
            idempotency_key=key,
            reason=reason[:200],
            created_by_staff_id=staff_id,
        )
        row.ledger_id = posting.entry.id
    session.flush()


def cancel_event(session: Session, event_id: int, staff_id: int) -> Event:
    """Cancel an event (organisers only); signups stay for the record."""
    event = _lock_event(session, event_id)
    _organiser(session, staff_id, event.community_id, event.grid_id)
    if event.status == "cancelled":
        raise InvalidTransition("活动已取消")
    event.status = "cancelled"
    session.flush()
    return event


def list_events(
    session: Session,
    *,
    community_id: int | None,
    grid_id: int | None = None,
    upcoming_only: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> list[Event]:
    """Published events of a community visible to a resident of `grid_id` (community-wide or their grid)."""
    stmt = select(Event).where(Event.status == "published").order_by(Event.starts_at, Event.id)
    if community_id is not None:
        stmt = stmt.where(Event.community_id == community_id)
    stmt = stmt.where(Event.grid_id.is_(None) | (Event.grid_id == grid_id))
    if upcoming_only:
        stmt = stmt.where(Event.ends_at > clock.now())
    return list(session.scalars(stmt.limit(limit).offset(offset)))


def signup_of(session: Session, event_id: int, resident_id: int) -> EventSignup | None:
    """The resident's signup row for an event, if any."""
    return session.scalar(
        select(EventSignup).where(EventSignup.event_id == event_id, EventSignup.resident_id == resident_id)
    )


def signups_of(session: Session, resident_id: int, *, limit: int = 50, offset: int = 0) -> list[EventSignup]:
    """A resident's signups, newest first."""
    return list(
        session.scalars(
            select(EventSignup)
            .where(EventSignup.resident_id == resident_id)
            .order_by(EventSignup.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def roster(session: Session, event_id: int, staff_id: int) -> list[EventSignup]:
    """Active signups of an event in queue order, for its organisers."""
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound("活动不存在")
    _organiser(session, staff_id, event.community_id, event.grid_id)
    return list(
        session.scalars(
            select(EventSignup)
            .where(EventSignup.event_id == event_id, EventSignup.status != "cancelled")
            .order_by(EventSignup.status, EventSignup.queued_at, EventSignup.id)
        )
    )


def count_confirmed(session: Session, event_id: int) -> int:
    """Confirmed signups counted from the rows (to check against the cached counter)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(EventSignup)
            .where(EventSignup.event_id == event_id, EventSignup.status == "confirmed")
        )
        or 0
    )
