"""Notices: residents list and read them (a read receipt is recorded on opening); staff publish and see counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from infra import clock
from infra.http import ApiError
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from miniapp_api.auth import current_principal, login_required, require_roles
from miniapp_api.blueprint import api_blueprint
from miniapp_api.idempotency import idempotent
from miniapp_api.pagination import Page, PageQuery, paginate
from miniapp_api.schemas import WRITE_ERRORS, DbId, responses
from models.notice import Notice
from models.resident import Resident
from models.staff import Staff
from services.notices import announcements as notice_service

bp = api_blueprint("miniapp_notices", __name__, "notices", "物业通知公告 and community announcements")


class NoticePath(BaseModel):
    """A notice by its public id."""

    notice_id: str = Field(min_length=1, max_length=32)


class NoticeItem(BaseModel):
    """A notice in a list."""

    id: str
    title: str
    category: str
    pinned: bool
    published_at: datetime
    read: bool


class NoticeDetail(NoticeItem):
    """A notice with its body."""

    body: str
    expires_at: datetime | None


class NoticeCreate(BaseModel):
    """A new notice (staff)."""

    title: str = Field(min_length=1, max_length=100)
    body: str = Field(min_length=1, max_length=5000)
    category: Literal["community", "property", "emergency"] = "community"
    estate_id: DbId | None = None
    grid_id: DbId | None = None
    pinned: bool = False
    expires_at: AwareDatetime | None = None
    urgent: bool = Field(
        False, description="also push it to every resident in scope (always so for category emergency)"
    )


class ReceiptCounts(BaseModel):
    """Read receipts as counts only."""

    read: int
    audience: int


def _item(notice: Notice, read: bool) -> dict[str, Any]:
    return NoticeItem(
        id=notice.public_id,
        title=notice.title,
        category=notice.category,
        pinned=notice.pinned,
        published_at=notice.published_at,
        read=read,
    ).model_dump(mode="json")


def _resident() -> Resident:
    resident = db_session().get(Resident, current_principal().resident_id)
    if resident is None:  # pragma: no cover - the session names an existing resident
        raise ApiError(401, "unauthorized", "请重新登录")
    return resident


def _staff() -> Staff:
    staff_id = current_principal().staff_id
    staff = db_session().get(Staff, staff_id) if staff_id else None
    if staff is None:
        raise ApiError(403, "forbidden", "需要工作人员角色")
    return staff


@bp.get("/notices", responses=responses(Page[NoticeItem]), summary="notices for me, pinned first")
@login_required
def list_notices(query: PageQuery) -> Any:
    """Notices addressed to the caller's community, estate and grid, with a read flag."""
    session = db_session()
    resident = _resident()
    stmt = notice_service.visible_to(session, resident, now=clock.now())
    page = paginate(session, stmt, query, lambda n: n)
    read = notice_service.read_ids(session, resident.id, [n.id for n in page["items"]])
    page["items"] = [_item(n, n.id in read) for n in page["items"]]
    return page


@bp.get(
    "/notices/<notice_id>",
    responses=responses(NoticeDetail),
    summary="open a notice (records a read receipt)",
)
@login_required
def get_notice(path: NoticePath) -> Any:
    """The notice; opening it records the caller's read receipt (once)."""
    session = db_session()
    resident = _resident()
    now = clock.now()
    notice = notice_service.get_for_resident(session, path.notice_id, resident, now=now)
    notice_service.mark_read(session, notice, resident.id, now=now)
    session.commit()
    return NoticeDetail(**_item(notice, True), body=notice.body, expires_at=notice.expires_at).model_dump(mode="json")


@bp.post("/notices", responses=responses(NoticeDetail, status=201, errors=WRITE_ERRORS), summary="publish (staff)")
@require_roles("staff")
@idempotent
def create_notice(body: NoticeCreate) -> Any:
    """Publish a notice in the staff member's community."""
    session = db_session()
    staff = _staff()
    notice = notice_service.publish(
        session,
        staff,
        title=body.title,
        body=body.body,
        category=body.category,
        estate_id=body.estate_id,
        grid_id=body.grid_id,
        pinned=body.pinned,
        published_at=clock.now(),
        expires_at=body.expires_at,
        urgent=body.urgent,
    )
    commit_and_enqueue(session)
    detail = NoticeDetail(**_item(notice, False), body=notice.body, expires_at=notice.expires_at)
    return detail.model_dump(mode="json"), 201


@bp.get("/notices/<notice_id>/receipts", responses=responses(ReceiptCounts), summary="read counts (staff)")
@require_roles("staff")
def notice_receipts(path: NoticePath) -> Any:
    """How many of the audience have read the notice."""
    counts = notice_service.receipt_counts(db_session(), _staff(), path.notice_id)
    return ReceiptCounts(**counts).model_dump()
