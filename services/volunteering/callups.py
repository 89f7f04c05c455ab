"""Call-ups (倡议): shifts with quotas, an audience filter, first-come sign-up, waitlist, check-in, no-shows.

The quota holds under contention because the seat counter moves only through
`UPDATE callup_shift SET taken = taken + 1 WHERE id = :id AND taken < quota RETURNING taken` (PostgreSQL
row-locks the shift and re-checks the predicate after waiting; SQLite's BEGIN IMMEDIATE serialises it), with
a CHECK (taken <= quota) as the backstop and UNIQUE(shift, resident) against double sign-ups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.orm import Session

from infra import clock
from models.callup import Callup, CallupShift, ShiftSignup
from models.party import PartyMember
from models.resident import Resident
from models.staff import Staff
from models.volunteer import TeamMember, VolunteerSkill
from services.errors import Conflict, DomainError, Forbidden, InvalidTransition, NotFound
from services.notifications import notify
from services.organisation.organisers import ORGANISER_ROLES, may_follow, organiser
from services.points import ledger as points
from services.points.events import CHECKIN_CLOSES_AFTER, record_attendance

QR_KIND = "shift"
SHIFT_QR_KIND = "shiftdesk"  # the shift's own QR, shown at its place
REMIND_BEFORE = timedelta(hours=2)
MAX_SHIFTS = 200


@dataclass(frozen=True)
class ShiftSpec:
    """One shift of a new call-up."""

    place: str
    starts_at: datetime
    ends_at: datetime
    quota: int


def _audience(raw: dict[str, Any]) -> dict[str, Any]:
    audience = {
        "volunteers": bool(raw.get("volunteers", True)),
        "party_members": bool(raw.get("party_members", False)),
        "grid_ids": sorted({int(x) for x in raw.get("grid_ids") or []}),
        "team_ids": sorted({int(x) for x in raw.get("team_ids") or []}),
        "skills": sorted({str(x).strip() for x in raw.get("skills") or [] if str(x).strip()}),
    }
    if not audience["volunteers"] and not audience["party_members"]:
        raise DomainError("倡议对象至少选择志愿者或党员之一", code="empty_audience")
    return audience


def create_callup(
    session: Session,
    staff_id: int,
    *,
    community_id: int,
    title: str,
    shifts: list[ShiftSpec],
    audience: dict[str, Any],
    signup_closes_at: datetime,
    signup_opens_at: datetime | None = None,
    description: str = "",
    points_on_attendance: int = 0,
    waitlist_capacity: int = 50,
) -> Callup:
    """Issue a call-up with its shifts; sign-up is open from now (or `signup_opens_at`) until it closes."""
    clean = _audience(audience)
    # Grid staff may call up their own grid only: the audience must name exactly that grid.
    organiser(session, staff_id, community_id, scope_grid(clean))
    if not title.strip():
        raise DomainError("倡议标题不能为空", code="title_required")
    if not shifts:
        raise DomainError("倡议至少需要一个班次", code="no_shifts")
    if len(shifts) > MAX_SHIFTS:
        raise DomainError(f"一个倡议最多 {MAX_SHIFTS} 个班次", code="too_many_shifts")
    now = clock.now()
    opens = signup_opens_at or now
    if signup_closes_at <= opens:
        raise DomainError("报名截止时间必须晚于开始时间", code="window_ordered")
    for spec in shifts:
        if spec.ends_at <= spec.starts_at:
            raise DomainError("班次结束时间必须晚于开始时间", code="times_ordered")
        if spec.quota < 1:
            raise DomainError("班次名额至少为 1", code="quota_positive")
        if not spec.place.strip():
            raise DomainError("班次地点不能为空", code="place_required")
    if points_on_attendance < 0 or waitlist_capacity < 0:
        raise DomainError("积分和候补人数不能为负", code="negative")
    callup = Callup(
        community_id=community_id,
        title=title.strip()[:100],
        description=description,
        audience=clean,
        signup_opens_at=opens,
        signup_closes_at=signup_closes_at,
        points_on_attendance=points_on_attendance,
        waitlist_capacity=waitlist_capacity,
        status="open",
        created_by_staff_id=staff_id,
    )
    session.add(callup)
    session.flush()
    for spec in shifts:
        session.add(
            CallupShift(
                callup_id=callup.id,
                place=spec.place.strip()[:200],
                starts_at=spec.starts_at,
                ends_at=spec.ends_at,
                quota=spec.quota,
                taken=0,
            )
        )
    session.flush()
    return callup


def scope_grid(audience: dict[str, Any]) -> int | None:
    """The one grid an audience is limited to (what grid staff may organise), else None."""
    grids = audience.get("grid_ids") or []
    return int(grids[0]) if len(grids) == 1 else None


def audience_stmt(callup: Callup) -> Select[tuple[int]]:
    """Resident ids a call-up reaches: its community's volunteers and/or verified party members, filtered."""
    audience = callup.audience or {}
    who = []
    if audience.get("volunteers"):
        who.append(Resident.is_volunteer.is_(True))
    if audience.get("party_members"):
        who.append(
            exists().where(
                PartyMember.resident_id == Resident.id,
                PartyMember.status == "verified",
                PartyMember.community_id == callup.community_id,
            )
        )
    stmt = select(Resident.id).where(Resident.erased_at.is_(None), Resident.community_id == callup.community_id)
    if not who:
        return stmt.where(Resident.id.is_(None))
    condition = who[0] if len(who) == 1 else who[0] | who[1]
    stmt = stmt.where(condition)
    if audience.get("grid_ids"):
        stmt = stmt.where(Resident.grid_id.in_(audience["grid_ids"]))
    if audience.get("team_ids"):
        stmt = stmt.where(
            exists().where(TeamMember.resident_id == Resident.id, TeamMember.team_id.in_(audience["team_ids"]))
        )
    if audience.get("skills"):
        stmt = stmt.where(
            exists().where(VolunteerSkill.resident_id == Resident.id, VolunteerSkill.skill.in_(audience["skills"]))
        )
    return stmt.order_by(Resident.id)


def in_audience(session: Session, callup: Callup, resident_id: int) -> bool:
    """Whether the call-up reaches this resident."""
    return session.scalar(audience_stmt(callup).where(Resident.id == resident_id)) is not None


def _lock_shift(session: Session, shift_id: int) -> tuple[CallupShift, Callup]:
    shift = session.scalar(
        select(CallupShift)
        .where(CallupShift.id == shift_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if shift is None:
        raise NotFound("班次不存在")
    callup = session.get(Callup, shift.callup_id)
    assert callup is not None
    return shift, callup


def waitlist_position(session: Session, row: ShiftSignup) -> int | None:
    """1-based FIFO position of a waitlisted sign-up, None otherwise."""
    if row.status != "waitlisted":
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(ShiftSignup)
        .where(
            ShiftSignup.shift_id == row.shift_id,
            ShiftSignup.status == "waitlisted",
            (ShiftSignup.queued_at < row.queued_at)
            | ((ShiftSignup.queued_at == row.queued_at) & (ShiftSignup.id < row.id)),
        )
    )
    return int(ahead or 0) + 1


def sign_up(session: Session, shift_id: int, resident_id: int) -> ShiftSignup:
    """Take a place on a shift, first come first served, or a waitlist place when it is full."""
    shift, callup = _lock_shift(session, shift_id)
    now = clock.now()
    if callup.status != "open":
        raise Conflict("倡议已结束", code="callup_closed")
    if now < callup.signup_opens_at:
        raise Conflict("报名尚未开始", code="signup_not_open")
    if now >= callup.signup_closes_at or now >= shift.starts_at:
        raise Conflict("报名已截止", code="signup_closed")
    if not in_audience(session, callup, resident_id):
        raise Forbidden("您不在本次倡议的范围内", code="not_eligible")
    row = session.scalar(
        select(ShiftSignup)
        .where(ShiftSignup.shift_id == shift_id, ShiftSignup.resident_id == resident_id)
        .execution_options(populate_existing=True)
    )
    if row is not None and row.status != "cancelled":
        raise Conflict("您已报名该班次" if row.status != "waitlisted" else "您已在候补名单中", code="already_signed_up")
    # The conditional increment is the quota guard (the CHECK constraint its backstop).
    seat = session.execute(
        update(CallupShift)
        .where(CallupShift.id == shift_id, CallupShift.taken < CallupShift.quota)
        .values(taken=CallupShift.taken + 1)
        .returning(CallupShift.taken)
    ).scalar()
    if seat is None:
        waiting = session.scalar(
            select(func.count())
            .select_from(ShiftSignup)
            .where(ShiftSignup.shift_id == shift_id, ShiftSignup.status == "waitlisted")
        )
        if int(waiting or 0) >= callup.waitlist_capacity:
            raise Conflict("名额已满，候补名单也已满", code="shift_full")
        status = "waitlisted"
    else:
        status = "confirmed"
    if row is None:
        row = ShiftSignup(shift_id=shift_id, resident_id=resident_id, status=status, queued_at=now)
        row.qr_nonce = points.new_nonce()
        session.add(row)
    else:  # again after a cancellation: back of the queue, a fresh QR code
        row.status, row.queued_at, row.cancelled_at, row.promoted_at = status, now, None, None
        row.qr_nonce = points.new_nonce()
    session.flush()
    return row


def cancel(session: Session, shift_id: int, resident_id: int) -> tuple[ShiftSignup, ShiftSignup | None]:
    """Cancel a sign-up; a freed place goes to the first on the waitlist, who is told. Returns (row, promoted)."""
    shift, callup = _lock_shift(session, shift_id)
    row = session.scalar(
        select(ShiftSignup)
        .where(ShiftSignup.shift_id == shift_id, ShiftSignup.resident_id == resident_id)
        .execution_options(populate_existing=True)
    )
    if row is None or row.status == "cancelled":
        raise NotFound("您没有报名该班次")
    now = clock.now()
    if now >= shift.starts_at:
        raise InvalidTransition("班次已开始，不能取消报名")
    was_confirmed = row.status == "confirmed"
    row.status, row.cancelled_at = "cancelled", now
    session.flush()
    promoted = None
    if was_confirmed:
        promoted = session.scalar(
            select(ShiftSignup)
            .where(ShiftSignup.shift_id == shift_id, ShiftSignup.status == "waitlisted")
            .order_by(ShiftSignup.queued_at, ShiftSignup.id)
            .limit(1)
            .with_for_update()
        )
        if promoted is not None:  # the place passes straight on: the counter does not move
            promoted.status, promoted.promoted_at = "confirmed", now
            session.flush()
            notify.notify_resident(
                session,
                promoted.resident_id,
                f"候补成功：您已获得「{callup.title}」{clock.local_text(shift.starts_at)} 在{shift.place}的名额。",
                key=f"shift-promoted-{promoted.id}-{int(now.timestamp())}",
                related=("shift_signup", promoted.id),
            )
        else:
            session.execute(
                update(CallupShift)
                .where(CallupShift.id == shift_id, CallupShift.taken > 0)
                .values(taken=CallupShift.taken - 1)
            )
    session.flush()
    return row, promoted


def qr_for(secret: str, row: ShiftSignup) -> str:
    """The signed check-in QR payload of a sign-up (shown only to its owner)."""
    return points.sign_qr(secret, QR_KIND, row.id, row.qr_nonce)


def check_in(session: Session, token: str, staff_id: int, *, secret: str) -> ShiftSignup:
    """An organiser scans the volunteer's QR: single use, confirmed only; points through the ledger."""
    signup_id, nonce = points.verify_qr(secret, QR_KIND, token)
    row = session.get(ShiftSignup, signup_id)
    if row is None or row.qr_nonce != nonce:
        raise NotFound("报名记录不存在或二维码已失效")
    shift = session.get(CallupShift, row.shift_id)
    assert shift is not None
    callup = session.get(Callup, shift.callup_id)
    assert callup is not None
    organiser(session, staff_id, callup.community_id, scope_grid(callup.audience or {}))
    return _attend(session, row, shift, callup, staff_id)


def shift_code(secret: str, shift: CallupShift) -> str:
    """The signed code of a shift's own check-in QR, shown by the organisers at the place of the shift.

    A confirmed volunteer scans it in the mini-program to check themselves in; it names the shift, not a
    person, so it stays the same for the whole shift and is only good inside the check-in window."""
    return points.sign_qr(secret, SHIFT_QR_KIND, shift.id, f"{int(shift.starts_at.timestamp())}")


def check_in_at_shift(session: Session, token: str, resident_id: int, *, secret: str) -> ShiftSignup:
    """A volunteer scans the shift's QR at its place: their confirmed sign-up is marked attended, once."""
    shift_id, _ = points.verify_qr(secret, SHIFT_QR_KIND, token)
    shift = session.get(CallupShift, shift_id)
    if shift is None or token.strip() != shift_code(secret, shift):
        raise NotFound("班次不存在或二维码已失效")
    row = session.scalar(
        select(ShiftSignup).where(ShiftSignup.shift_id == shift.id, ShiftSignup.resident_id == resident_id)
    )
    if row is None or row.status == "cancelled":
        raise NotFound("您没有报名该班次")
    callup = session.get(Callup, shift.callup_id)
    assert callup is not None
    return _attend(session, row, shift, callup, None)


def _attend(
    session: Session, row: ShiftSignup, shift: CallupShift, callup: Callup, staff_id: int | None
) -> ShiftSignup:
    """Mark a confirmed sign-up attended inside the check-in window; attendance points through the ledger."""
    record_attendance(
        session, ShiftSignup, row, starts_at=shift.starts_at, ends_at=shift.ends_at, staff_id=staff_id,
        points_amount=callup.points_on_attendance, source_type="shift_signup",
        key=f"shift_attendance:{shift.id}:{row.resident_id}", reason=f"参加倡议：{callup.title}", status="attended",
    )  # fmt: skip
    return row


def record_no_shows(session: Session, *, now: datetime | None = None) -> int:
    """Confirmed sign-ups of shifts whose check-in has closed become no-shows; returns how many."""
    now = now or clock.now()
    cutoff = now - CHECKIN_CLOSES_AFTER  # a shift's check-in window is an event's; after it, a no-show
    result = session.execute(
        update(ShiftSignup)
        .where(
            ShiftSignup.status == "confirmed",
            ShiftSignup.shift_id.in_(select(CallupShift.id).where(CallupShift.ends_at < cutoff)),
        )
        .values(status="no_show", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def remind_upcoming(session: Session, *, now: datetime | None = None) -> int:
    """Tell confirmed volunteers of shifts starting within REMIND_BEFORE (once per sign-up); returns how many."""
    now = now or clock.now()
    rows = session.execute(
        select(ShiftSignup, CallupShift, Callup)
        .join(CallupShift, CallupShift.id == ShiftSignup.shift_id)
        .join(Callup, Callup.id == CallupShift.callup_id)
        .where(
            ShiftSignup.status == "confirmed",
            CallupShift.starts_at > now,
            CallupShift.starts_at <= now + REMIND_BEFORE,
            Callup.status == "open",
        )
    ).all()
    for row, shift, callup in rows:
        notify.notify_resident(
            session,
            row.resident_id,
            f"提醒：您报名的「{callup.title}」将于 {clock.local_text(shift.starts_at)} "
            f"在{shift.place}开始，请准时签到。",
            key=f"shift-reminder-{row.id}-{int(row.queued_at.timestamp())}",
            related=("shift_signup", row.id),
        )
    return len(rows)


def fill_rate(session: Session, callup_id: int) -> list[dict[str, Any]]:
    """Per shift: quota, taken, waitlisted, attended, no-shows (for the console's live view)."""
    shifts = list(
        session.scalars(
            select(CallupShift)
            .where(CallupShift.callup_id == callup_id)
            .order_by(CallupShift.starts_at, CallupShift.id)
        )
    )
    counts: dict[tuple[int, str], int] = {
        (shift_id, status): int(n)
        for shift_id, status, n in session.execute(
            select(ShiftSignup.shift_id, ShiftSignup.status, func.count())
            .where(ShiftSignup.shift_id.in_([s.id for s in shifts]))
            .group_by(ShiftSignup.shift_id, ShiftSignup.status)
        )
    }
    return [
        {
            "shift_id": s.id,
            "place": s.place,
            "starts_at": s.starts_at,
            "ends_at": s.ends_at,
            "quota": s.quota,
            "taken": s.taken,
            "waitlisted": counts.get((s.id, "waitlisted"), 0),
            "attended": counts.get((s.id, "attended"), 0),
            "no_show": counts.get((s.id, "no_show"), 0),
        }
        for s in shifts
    ]


def get_callup(session: Session, callup_id: int) -> Callup:
    """A call-up by id."""
    callup = session.get(Callup, callup_id)
    if callup is None:
        raise NotFound("倡议不存在")
    return callup


def _may_view(staff: Staff | None, callup: Callup) -> bool:
    return may_follow(staff, callup.community_id, scope_grid(callup.audience or {}))


def callup_for_staff(session: Session, callup_id: int, staff_id: int) -> Callup:
    """A call-up the staff member may follow: their community's (grid staff: community-wide or their grid's)."""
    callup = get_callup(session, callup_id)
    if not _may_view(session.get(Staff, staff_id), callup):
        raise Forbidden("无权查看该倡议", code="other_scope")
    return callup


def may_organise(session: Session, staff_id: int, callup: Callup) -> bool:
    """Whether the staff member may send, close and check in for this call-up (not only follow it)."""
    try:
        organiser(session, staff_id, callup.community_id, scope_grid(callup.audience or {}))
    except Forbidden:
        return False
    return True


def callups_for_staff(session: Session, staff_id: int, *, limit: int = 50) -> list[Callup]:
    """The newest call-ups the staff member may follow."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.role not in ORGANISER_ROLES:
        raise Forbidden("无权查看倡议", code="not_organiser")
    stmt = select(Callup)
    if staff.community_id is not None:
        stmt = stmt.where(Callup.community_id == staff.community_id)
    rows = session.scalars(stmt.order_by(Callup.id.desc()).limit(200))
    return [c for c in rows if _may_view(staff, c)][:limit]


def signups_of(session: Session, callup_id: int) -> list[tuple[ShiftSignup, Resident]]:
    """Everyone who signed up for a call-up's shifts (waitlist in FIFO order), for the organisers' view."""
    rows = session.execute(
        select(ShiftSignup, Resident)
        .join(Resident, Resident.id == ShiftSignup.resident_id)
        .join(CallupShift, CallupShift.id == ShiftSignup.shift_id)
        .where(CallupShift.callup_id == callup_id)
        .order_by(ShiftSignup.shift_id, ShiftSignup.queued_at, ShiftSignup.id)
    )
    return [(a, b) for a, b in rows]


def shifts_of(session: Session, callup_id: int) -> list[CallupShift]:
    """A call-up's shifts in time order."""
    return list(
        session.scalars(
            select(CallupShift)
            .where(CallupShift.callup_id == callup_id)
            .order_by(CallupShift.starts_at, CallupShift.id)
        )
    )


def open_callups_for(session: Session, resident_id: int) -> list[Callup]:
    """Open call-ups whose audience includes the resident."""
    resident = session.get(Resident, resident_id)
    if resident is None or resident.community_id is None:
        return []
    now = clock.now()
    candidates = session.scalars(
        select(Callup)
        .where(Callup.community_id == resident.community_id, Callup.status == "open", Callup.signup_closes_at > now)
        .order_by(Callup.id.desc())
        .limit(50)
    )
    return [c for c in candidates if in_audience(session, c, resident_id)]


def upcoming_shifts_of(session: Session, resident_id: int) -> list[tuple[ShiftSignup, CallupShift, Callup]]:
    """A volunteer's confirmed or waitlisted shifts that have not ended."""
    rows = session.execute(
        select(ShiftSignup, CallupShift, Callup)
        .join(CallupShift, CallupShift.id == ShiftSignup.shift_id)
        .join(Callup, Callup.id == CallupShift.callup_id)
        .where(
            ShiftSignup.resident_id == resident_id,
            ShiftSignup.status.in_(("confirmed", "waitlisted")),
            CallupShift.ends_at > clock.now(),
        )
        .order_by(CallupShift.starts_at)
    )
    return [(a, b, c) for a, b, c in rows]


def close_callup(session: Session, callup_id: int, staff_id: int) -> Callup:
    """Close sign-up early (organisers only)."""
    callup = get_callup(session, callup_id)
    organiser(session, staff_id, callup.community_id, scope_grid(callup.audience or {}))
    if callup.status != "open":
        raise InvalidTransition("倡议已结束")
    callup.status = "closed"
    session.flush()
    return callup
