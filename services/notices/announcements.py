"""Notices (物业通知公告 / community announcements): audience scoping, publishing and read receipts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models.notice import Notice, NoticeRead
from models.org import Building, Estate, Grid
from models.resident import Resident
from models.staff import Staff
from services.errors import DomainError, Forbidden, NotFound
from services.notifications.notify import notify_residents

CATEGORIES = ("community", "property", "emergency")
PUBLISHER_ROLES = (
    "community_staff",
    "community_secretary",
    "street_officer",
    "admin",
    "grid_leader",
    "property_staff",
)


def _estate_of(session: Session, resident: Resident) -> int | None:
    if resident.building_id is None:
        return None
    building = session.get(Building, resident.building_id)
    return building.estate_id if building is not None else None


def visible_to(session: Session, resident: Resident, *, now: datetime) -> Select[tuple[Notice]]:
    """Published, unexpired notices for the resident's community, estate and grid (pinned first, newest first)."""
    estate_id = _estate_of(session, resident)
    stmt = select(Notice).where(
        Notice.published_at <= now,
        or_(Notice.expires_at.is_(None), Notice.expires_at > now),
        or_(Notice.estate_id.is_(None), Notice.estate_id == estate_id),
        or_(Notice.grid_id.is_(None), Notice.grid_id == resident.grid_id),
    )
    if resident.community_id is not None:
        stmt = stmt.where(Notice.community_id == resident.community_id)
    else:
        # Not bound yet: only community-wide notices (an estate or grid notice would need the binding).
        stmt = stmt.where(Notice.estate_id.is_(None), Notice.grid_id.is_(None))
    return stmt.order_by(Notice.pinned.desc(), Notice.published_at.desc(), Notice.id.desc())


def get_for_resident(session: Session, public_id: str, resident: Resident, *, now: datetime) -> Notice:
    """One notice the resident may see (404 otherwise: outside their scope looks the same as missing)."""
    notice = session.scalar(visible_to(session, resident, now=now).where(Notice.public_id == public_id))
    if notice is None:
        raise NotFound("没有这条通知")
    return notice


def read_ids(session: Session, resident_id: int, notice_ids: list[int]) -> set[int]:
    """Which of these notices the resident has read."""
    if not notice_ids:
        return set()
    rows = session.scalars(
        select(NoticeRead.notice_id).where(NoticeRead.resident_id == resident_id, NoticeRead.notice_id.in_(notice_ids))
    )
    return set(rows)


def mark_read(session: Session, notice: Notice, resident_id: int, *, now: datetime) -> None:
    """Record a read receipt; reading twice keeps the first time (UNIQUE(notice, resident), insert-or-ignore)."""
    values = {"notice_id": notice.id, "resident_id": resident_id, "read_at": now}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(NoticeRead).values(**values).on_conflict_do_nothing(index_elements=["notice_id", "resident_id"])
    )


def publish(
    session: Session,
    staff: Staff,
    *,
    title: str,
    body: str,
    category: str = "community",
    estate_id: int | None = None,
    grid_id: int | None = None,
    pinned: bool = False,
    published_at: datetime,
    expires_at: datetime | None = None,
    urgent: bool = False,
) -> Notice:
    """Publish a notice in the staff member's community (property staff: only 'property' notices).

    An urgent notice (and every emergency notice) is also pushed to each resident in its scope.
    """
    if staff.role not in PUBLISHER_ROLES:
        raise Forbidden("您的角色不能发布通知")
    if staff.community_id is None:
        raise Forbidden("您还没有归属社区")
    if category not in CATEGORIES:
        raise DomainError(f"未知的通知类别 {category!r}", code="invalid_category")
    if staff.role == "property_staff" and category != "property":
        raise Forbidden("物业人员只能发布物业通知")
    if staff.role == "grid_leader":
        # A grid leader speaks to their own grid only: another grid is refused, never silently replaced.
        if grid_id is not None and grid_id != staff.grid_id:
            raise Forbidden("网格长只能向本网格发布通知", code="grid_out_of_scope")
        grid_id = staff.grid_id
    if estate_id is not None:
        estate = session.get(Estate, estate_id)
        if estate is None or estate.community_id != staff.community_id:
            raise DomainError("您的社区里没有这个小区", code="invalid_estate")
    if grid_id is not None:
        grid = session.get(Grid, grid_id)
        if grid is None or grid.community_id != staff.community_id:
            raise DomainError("您的社区里没有这个网格", code="invalid_grid")
    if expires_at is not None and expires_at <= published_at:
        raise DomainError("expires_at（过期时间）必须晚于发布时间", code="invalid_expiry")
    notice = Notice(
        community_id=staff.community_id,
        estate_id=estate_id,
        grid_id=grid_id,
        category=category,
        title=title,
        body=body,
        pinned=pinned,
        author_staff_id=staff.id,
        published_at=published_at,
        expires_at=expires_at,
    )
    session.add(notice)
    session.flush()
    if urgent or category == "emergency":
        push_to_audience(session, notice)
    return notice


def _audience(notice: Notice) -> Select[tuple[int]]:
    """Ids of the bound residents in the notice's scope (community, and its estate or grid if any)."""
    stmt = select(Resident.id).where(Resident.community_id == notice.community_id)
    if notice.grid_id is not None:
        stmt = stmt.where(Resident.grid_id == notice.grid_id)
    if notice.estate_id is not None:
        stmt = stmt.join(Building, Building.id == Resident.building_id).where(Building.estate_id == notice.estate_id)
    return stmt


def push_to_audience(session: Session, notice: Notice, *, heading: str = "紧急通知") -> int:
    """Tell every reachable resident in scope about the notice (one idempotent notification each); how many.

    `heading` opens the pushed text (【紧急通知】 for an urgent notice, 【决议公开】 for a council's resolution …).

    The audience is fixed here, in the publishing transaction, and recorded as a broadcast: one outbox row per
    chunk of recipients (`notify_residents`), not one per resident. The channel follows the notification rules
    (customer-service message inside the 48 h window, else the notice template or a mini-program subscribe
    message the resident has granted).
    """
    stmt = _audience(notice).where(
        Resident.erased_at.is_(None), or_(Resident.openid.is_not(None), Resident.miniapp_openid.is_not(None))
    )
    text = f"【{heading}】{notice.title}：{notice.body}"
    text = text if len(text) <= 600 else text[:599] + "…"
    recipients = list(session.scalars(stmt.order_by(Resident.id)))
    if not recipients:
        return 0
    return notify_residents(session, recipients, text, key=f"notice:{notice.id}", related=("notice", notice.id))


def audience_size(session: Session, notice: Notice) -> int:
    """How many residents the notice is addressed to (bound residents in its scope)."""
    return session.scalar(select(func.count()).select_from(_audience(notice).subquery())) or 0


def receipt_counts(session: Session, staff: Staff, public_id: str) -> dict[str, int]:
    """Read counts for staff of the notice's community: {read, audience} (who read it is not disclosed)."""
    notice = session.scalar(select(Notice).where(Notice.public_id == public_id))
    if notice is None or staff.community_id != notice.community_id:
        raise NotFound("没有这条通知")
    read = session.scalar(select(func.count(NoticeRead.id)).where(NoticeRead.notice_id == notice.id)) or 0
    return {"read": read, "audience": max(audience_size(session, notice), read)}
