"""Staff API for appeals under /console/api: what I may see, detail with timeline, and the workflow steps.

Every request authenticates the staff member (console.auth) and every object is loaded through
`services.appeals.workflow.visible_to_staff`, so an appeal outside the caller's grid, department, company or community
is a 404 (its existence is not revealed). The workflow service enforces the per-step roles.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, HttpUrl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.auth import STAFF_BEARER, current_staff
from infra import privacy
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from miniapp_api.schemas import DbId  # a database id: 1 … 2**31-1, so no overflow reaches SQL
from miniapp_api.schemas import ErrorBody as ErrorOut
from models.appeal import APPEAL_STATES, Appeal, AppealAttachment
from models.staff import Staff
from services.appeals import states, workflow
from services.errors import NotFound

bp = APIBlueprint(
    "console_appeals",
    __name__,
    url_prefix="/console/api",
    abp_tags=[Tag(name="console", description="staff console: appeals visible to the caller and workflow steps")],
    abp_security=STAFF_BEARER,
)


# ---------------------------------------------------------------- schemas


class AppealPath(BaseModel):
    """An appeal addressed by its public id (non-enumerable)."""

    public_id: str = Field(min_length=8, max_length=32)


class ListQuery(BaseModel):
    """Filters for the appeal list."""

    status: Literal[(*APPEAL_STATES, "open")] | None = Field(  # type: ignore[valid-type]
        default=None, description="a state, or open (any state that still needs work)"
    )
    overdue: bool | None = None
    category: str | None = None
    mine: bool = Field(default=False, description="only appeals assigned to me")
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class StaffOut(BaseModel):
    """The authenticated staff member."""

    id: int
    name: str
    role: str
    community_id: int | None
    grid_id: int | None
    department_id: int | None
    property_company_id: int | None


class AppealSummary(BaseModel):
    """One appeal in a list."""

    public_id: str
    number: str | None
    kind: str
    status: str
    status_label: str
    category: str | None
    urgent: bool
    text: str
    address: str | None
    handler_type: str | None
    grid_id: int | None
    department_id: int | None
    property_company_id: int | None
    assignee_staff_id: int | None
    created_at: datetime
    dispatched_at: datetime | None
    accept_due_at: datetime | None
    due_at: datetime | None
    overdue: bool
    escalation_level: int
    return_count: int
    reopen_count: int
    closure_code: str | None
    rating: str | None


class AttachmentOut(BaseModel):
    """A photo or file on the appeal."""

    id: int
    kind: str
    media_id: str | None
    url: str | None
    note: str | None
    added_by_type: str
    created_at: datetime


class AppealDetail(AppealSummary):
    """An appeal with its full staff timeline and attachments."""

    timeline: list[dict[str, Any]]
    attachments: list[AttachmentOut]
    allowed_actions: list[str]


class AppealList(BaseModel):
    """A page of appeals."""

    items: list[AppealSummary]
    total: int
    limit: int
    offset: int


class ReturnBody(BaseModel):
    """退单: a reason code and an explanation."""

    reason_code: Literal["wrong_area", "unclear_ownership", "overlapping_remit", "incomplete"]
    text: str = Field(min_length=2, max_length=1000)


class NoteBody(BaseModel):
    """A note; internal unless public (public notes reach the resident)."""

    text: str = Field(min_length=1, max_length=2000)
    public: bool = False


class AttachmentBody(BaseModel):
    """A photo/file: a WeChat media_id or an http(s) URL."""

    kind: Literal["image", "voice", "video", "file"] = "image"
    media_id: str | None = Field(default=None, max_length=128)
    url: HttpUrl | None = None
    note: str | None = Field(default=None, max_length=500)


class ResolveBody(BaseModel):
    """The reply the resident receives."""

    reply: str = Field(min_length=2, max_length=2000)


class DispatchBody(BaseModel):
    """Which unit handles the appeal."""

    handler_type: Literal["grid", "department", "property_company"]
    grid_id: DbId | None = None
    department_id: DbId | None = None
    property_company_id: DbId | None = None
    note: str | None = Field(default=None, max_length=500)


class ArbitrateBody(DispatchBody):
    """审定 of an appeal returned twice: dispatch to a unit, or close it."""

    decision: Literal["dispatch", "close"]
    handler_type: Literal["grid", "department", "property_company"] | None = None  # type: ignore[assignment]
    code: Literal["resolved", "unresolved", "duplicate", "referred"] | None = None


class CloseBody(BaseModel):
    """Close with a closure code (unresolved / referred need a note)."""

    code: Literal["resolved", "unresolved", "duplicate", "referred"]
    note: str | None = Field(default=None, max_length=1000)


class RecategoriseBody(BaseModel):
    """Correct the category (re-routes if not yet accepted)."""

    category: str = Field(min_length=1, max_length=32)
    note: str | None = Field(default=None, max_length=500)


ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


# ---------------------------------------------------------------- helpers


def _actor(staff: Staff) -> workflow.Actor:
    return workflow.Actor("staff", staff.id, staff.role)


def _load(session: Session, staff: Staff, public_id: str, *, for_update: bool = False) -> Appeal:
    stmt = workflow.visible_to_staff(session, staff).where(Appeal.public_id == public_id)
    if for_update:
        stmt = stmt.with_for_update()
    appeal = session.scalar(stmt)
    if appeal is None:
        raise NotFound("您的管辖范围内没有这件诉求")
    return appeal


def _summary(appeal: Appeal) -> dict[str, Any]:
    data = {name: getattr(appeal, name) for name in AppealSummary.model_fields if hasattr(appeal, name)}
    data["status_label"] = workflow.STATUS_LABELS.get(appeal.status, appeal.status)
    # Free text may carry phone numbers or rooms; staff need the content, not the digits in list views.
    data["text"] = privacy.redact_text(appeal.text)
    return AppealSummary.model_validate(data).model_dump(mode="json")


def _detail(session: Session, staff: Staff, appeal: Appeal) -> dict[str, Any]:
    data = _summary(appeal)
    data["text"] = appeal.text  # the detail view is for the people handling it
    attachments = session.scalars(
        select(AppealAttachment).where(AppealAttachment.appeal_id == appeal.id).order_by(AppealAttachment.id)
    )
    data["timeline"] = workflow.timeline(session, appeal, audience="staff")
    data["attachments"] = [
        AttachmentOut.model_validate(a, from_attributes=True).model_dump(mode="json") for a in attachments
    ]
    data["allowed_actions"] = workflow.allowed_actions(staff, appeal)
    return data


def _done(session: Session, staff: Staff, appeal: Appeal) -> dict[str, Any]:
    """Commit the step (and hand its notifications to RQ), then answer with the fresh detail."""
    commit_and_enqueue(session)
    body = _detail(session, staff, appeal)
    session.rollback()  # end the read transaction: on SQLite it holds the write lock
    return body


# ---------------------------------------------------------------- routes


@bp.get("/me", responses={200: StaffOut, **ERRORS})
def me() -> dict[str, Any]:
    """The authenticated staff member."""
    staff = current_staff()
    body = StaffOut.model_validate(staff, from_attributes=True).model_dump(mode="json")
    db_session().commit()  # last_used_at
    return body


@bp.get("/appeals", responses={200: AppealList, **ERRORS})
def list_appeals(query: ListQuery) -> dict[str, Any]:
    """Appeals visible to me (my grid, department, company or community), most urgent deadline first."""
    staff = current_staff()
    session = db_session()
    stmt = workflow.visible_to_staff(session, staff)
    if query.status == "open":
        stmt = stmt.where(Appeal.status.in_(states.NOT_CLOSED))
    elif query.status is not None:
        stmt = stmt.where(Appeal.status == query.status)
    if query.overdue is not None:
        stmt = stmt.where(Appeal.overdue.is_(query.overdue))
    if query.category:
        stmt = stmt.where(Appeal.category == query.category)
    if query.mine:
        stmt = stmt.where(Appeal.assignee_staff_id == staff.id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Appeal.due_at.is_(None), Appeal.due_at, Appeal.id.desc()).limit(query.limit).offset(query.offset)
    )
    body = {
        "items": [_summary(a) for a in rows],
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
    }
    session.commit()
    return body


@bp.get("/appeals/<public_id>", responses={200: AppealDetail, **ERRORS})
def get_appeal(path: AppealPath) -> dict[str, Any]:
    """One appeal with its timeline (internal notes included) and attachments."""
    staff = current_staff()
    session = db_session()
    body = _detail(session, staff, _load(session, staff, path.public_id))
    session.commit()
    return body


@bp.post("/appeals/<public_id>/accept", responses={200: AppealDetail, **ERRORS})
def accept_appeal(path: AppealPath) -> dict[str, Any]:
    """签收 (the assigned unit only)."""
    staff = current_staff()
    session = db_session()
    appeal = _load(session, staff, path.public_id, for_update=True)
    workflow.accept(session, appeal, actor=_actor(staff))
    return _done(session, staff, appeal)


@bp.post("/appeals/<public_id>/start", responses={200: AppealDetail, **ERRORS})
def start_appeal(path: AppealPath) -> dict[str, Any]:
    """Start work on an accepted appeal (the assigned unit only)."""
    staff = current_staff()
    session = db_session()
    appeal = _load(session, staff, path.public_id, for_update=True)
    workflow.start(session, appeal, actor=_actor(staff))
    return _done(session, staff, appeal)


@bp.post("/appeals/<public_id>/return", responses={200: AppealDetail, **ERRORS})
def return_appeal(path: AppealPath, body: ReturnBody) -> dict[str, Any]:
    """退单 with a reason code (属地不符 / 权属不清 / 职能交叉 / 信息不全) and text; twice → arbitration."""
    staff = current_staff()
    session = db_session()
    appeal = _load(session, staff, path.public_id, for_update=True)
    workflow.return_appeal(session, appeal, actor=_actor(staff), reason_code=body.reason_code, text=body.text)
    return _done(session, staff, appeal)


@bp.post("/appeals/<public_id>/notes", responses={200: AppealDetail, **ERRORS})
def add_note(path: AppealPath, body: NoteBody) -> dict[str, Any]:
    """Add a note (internal by default)."""
    staff = current_staff()
    session = db_session()
    appeal = _load(session, staff, path.public_id, for_update=True)
    workflow.add_note(session, appeal, actor=_actor(staff), text=body.text, public=body.public)
    return _done(session, staff, appeal)


@bp.post("/appeals/<public_id>/attachments", responses={200: AppealDetail, **ERRORS})
def add_attachment(path: AppealPath, body: AttachmentBody) -> dict[str, Any]:
    """Attach a photo or file (WeChat media_id or URL)."""
    staff = current_staff()
    session = db_session()
    appeal = _load(session, staff, path.public_id, for_update=True)
    workflow.add_attachment(
        session,
        appeal,
        actor=_actor(staff),
        kind=body.kind,
        media_id=body.media_id,
        url=str(body.url) if body.url else None,
        note=body.note,
    )
    return _done(session, staff, appeal)


@bp.post("/appeals/<public_id>/resolve", responses={200: AppealDetail, **ERRORS})
def resolve_appeal(path: AppealPath, body: ResolveBody) -> dict[str, Any]:
    """Report the appeal done with a reply to the resident (who is asked to rate it)."""
    staff = current_staff()
    session = db_session()
    appeal = _load(session, staff, path.public_id, for_update=True)
    hours = float(current_app.config.get("APPEAL_AUTO_CLOSE_HOURS", 72))
    workflow.resolve(session, appeal, actor=_actor(staff), reply=body.reply, auto_close_hours=hours)
    return _done(session, staff, appeal)


@bp.post("/appeals/<public_id>/dispatch", responses={200: AppealDetail, **ERRORS})
def dispatch_appeal(path: AppealPath, body: DispatchBody) -> dict[str, Any]:
    """Dispatch to a grid, department or property company (grid leader / community roles)."""
    staff = current_staff()
    session = db_session()
    appeal = _load(session, staff, path.public_id, for_update=True)
    workflow.dispatch(
        session,
        appeal,
        actor=_actor(staff),
        handler_type=body.handler_type,
        grid_id=body.grid_id,
        department_id=body.department_id,
        property_company_id=body.property_company_id,
        note=body.note,
    )
    return _done(session, staff, appeal)


@bp.post("/appeals/<public_id>/arbitrate", responses={200: AppealDetail, **ERRORS})
def arbitrate_appeal(path: AppealPath, body: ArbitrateBody) -> dict[str, Any]:
    """审定 a returned appeal: dispatch it to a unit or close it (community secretary / street office)."""
    staff = current_staff()
    session = db_session()
    appeal = _load(session, staff, path.public_id, for_update=True)
    workflow.arbitrate(
        session,
        appeal,
        actor=_actor(staff),
        decision=body.decision,
        handler_type=body.handler_type,
        grid_id=body.grid_id,
        department_id=body.department_id,
        property_company_id=body.property_company_id,
        code=body.code,
        note=body.note,
    )
    return _done(session, staff, appeal)


@bp.post("/appeals/<public_id>/close", responses={200: AppealDetail, **ERRORS})
def close_appeal(path: AppealPath, body: CloseBody) -> dict[str, Any]:
    """Close with a closure code (grid leader / community roles)."""
    staff = current_staff()
    session = db_session()
    appeal = _load(session, staff, path.public_id, for_update=True)
    workflow.close(session, appeal, actor=_actor(staff), code=body.code, note=body.note)
    return _done(session, staff, appeal)


@bp.post("/appeals/<public_id>/recategorise", responses={200: AppealDetail, **ERRORS})
def recategorise_appeal(path: AppealPath, body: RecategoriseBody) -> dict[str, Any]:
    """Correct the category; an appeal not yet accepted is re-routed."""
    from services.appeals.routing import recategorise

    staff = current_staff()
    session = db_session()
    appeal = _load(session, staff, path.public_id, for_update=True)
    recategorise(session, appeal, body.category, staff_id=staff.id, note=body.note)
    return _done(session, staff, appeal)
