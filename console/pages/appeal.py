"""The appeal page: messages, the classifier's decision, timeline, deadlines, and only the actions allowed now.

Every step calls the same workflow functions as the JSON API (console/appeals.py), which enforce the per-step
roles; the buttons shown come from the API's own `allowed_actions`. Each step is written to the audit log.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, request, send_file, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.pages.maps import boundary_svg
from console.pages.web import PageError, bp, media_dir, page, record, signed_in, staff
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from models.appeal import Appeal, AppealAttachment, AppealSupporter
from models.org import Building, Department, Grid, PropertyCompany
from models.staff import Staff
from nlp.taxonomy import CATEGORIES, label_of
from services.appeals import handling, workflow
from services.appeals.photos import MAX_PHOTO_BYTES, attach_photo, stored_file
from services.appeals.routing import recategorise
from services.errors import DomainError, NotFound

EVENT_LABELS = {
    "create": "受理",
    "classify": "分类",
    "triage": "待分拣",
    "dispatch": "派单",
    "accept": "签收",
    "start": "开始办理",
    "return": "退单",
    "arbitrate": "审定",
    "resolve": "答复办结",
    "close": "结案",
    "note": "备注",
    "attach": "补充附件",
    "rate": "居民评价",
    "reopen": "重新打开",
    "chase": "居民催办",
    "withdraw": "居民撤回",
    "recategorise": "更正类别",
    "remind": "提醒",
    "escalate": "升级督办",
    "support": "居民附议",
}
RATING_LABELS = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
}
HANDLER_LABELS = {"grid": "网格", "department": "职能部门", "property_company": "物业公司"}


def load(session: Session, member: Staff, public_id: str, *, for_update: bool = False) -> Appeal:
    """The appeal if this staff member may see it; a Chinese 403 page if it is outside their scope, else 404."""
    if not 8 <= len(public_id) <= 32:
        raise PageError(404, "没有这件诉求。")
    stmt = workflow.visible_to_staff(session, member).where(Appeal.public_id == public_id)
    appeal = session.scalar(stmt.with_for_update() if for_update else stmt)
    if appeal is not None:
        return appeal
    if session.scalar(select(Appeal.id).where(Appeal.public_id == public_id)) is not None:
        raise PageError(403, "这件诉求不在您的管辖范围内（网格、部门、物业或社区），您不能查看或处理。")
    raise PageError(404, "没有这件诉求。")


def _grid_svg(grid: Grid | None, appeal: Appeal) -> dict[str, Any] | None:
    """The grid boundary (GeoJSON polygon) and the appeal's point, projected into a 300×300 SVG box."""
    if grid is None:
        return None
    point = None
    if appeal.longitude is not None and appeal.latitude is not None:
        point = (float(appeal.longitude), float(appeal.latitude))
    return boundary_svg(grid.boundary, grid.name, point)


def _detail(session: Session, member: Staff, appeal: Appeal, *, error: str | None = None, status: int = 200) -> Any:
    grid = session.get(Grid, appeal.grid_id) if appeal.grid_id else None
    building = session.get(Building, appeal.building_id) if appeal.building_id else None
    supporters = list(
        session.scalars(
            select(AppealSupporter).where(AppealSupporter.appeal_id == appeal.id).order_by(AppealSupporter.id)
        )
    )
    duplicates = list(session.scalars(select(Appeal).where(Appeal.duplicate_of_id == appeal.id).order_by(Appeal.id)))
    original = session.get(Appeal, appeal.duplicate_of_id) if appeal.duplicate_of_id else None
    attachments = list(
        session.scalars(
            select(AppealAttachment).where(AppealAttachment.appeal_id == appeal.id).order_by(AppealAttachment.id)
        )
    )
    staff_names = {s.id: s.name for s in session.scalars(select(Staff))}
    return page(
        "console/appeal.html",
        status,
        appeal=appeal,
        error=error,
        grid=grid,
        building=building,
        unit=handling.unit_name(session, appeal) if appeal.handler_type else "未派单",
        supporters=supporters,
        duplicates=duplicates,
        original=original,
        attachments=attachments,
        timeline=workflow.timeline(session, appeal, audience="staff"),
        actions=workflow.allowed_actions(member, appeal),
        svg=_grid_svg(grid, appeal),
        staff_names=staff_names,
        event_labels=EVENT_LABELS,
        status_labels=workflow.STATUS_LABELS,
        closure_labels=workflow.CLOSURE_LABELS,
        return_reasons=workflow.RETURN_REASONS,
        rating_labels=RATING_LABELS,
        handler_labels=HANDLER_LABELS,
        categories=[c for c in CATEGORIES if c.is_appeal],
        label_of=label_of,
        grids=list(session.scalars(select(Grid).order_by(Grid.code))),
        departments=list(session.scalars(select(Department).order_by(Department.code))),
        companies=list(session.scalars(select(PropertyCompany).order_by(PropertyCompany.code))),
    )


@bp.get("/appeals/<public_id>")
@signed_in
def appeal_page(public_id: str) -> Any:
    """One appeal as the people handling it see it."""
    session = db_session()
    member = staff()
    body = _detail(session, member, load(session, member, public_id))
    session.commit()
    return body


def _text(name: str, *, required: bool, low: int = 1, high: int = 2000, label: str) -> str | None:
    value = request.form.get(name, "").strip()
    if not value:
        if required:
            raise _FormError(f"请填写{label}。")
        return None
    if not low <= len(value) <= high:
        raise _FormError(f"{label}应为 {low}–{high} 个字。")
    return value


def _id(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise _FormError("请选择承办单位。")
    return int(raw)


class _FormError(Exception):
    """A form field is missing or out of range: the page is shown again with the message."""


def _step(session: Session, member: Staff, appeal: Appeal, action: str) -> None:
    actor = workflow.Actor("staff", member.id, member.role)
    form = request.form
    if action == "accept":
        workflow.accept(session, appeal, actor=actor)
    elif action == "start":
        workflow.start(session, appeal, actor=actor)
    elif action == "note":
        text = _text("text", required=True, label="备注内容")
        workflow.add_note(session, appeal, actor=actor, text=text or "", public=form.get("public") == "1")
    elif action == "resolve":
        reply = _text("reply", required=True, low=2, label="给居民的答复")
        hours = float(current_app.config.get("APPEAL_AUTO_CLOSE_HOURS", 72))
        workflow.resolve(session, appeal, actor=actor, reply=reply or "", auto_close_hours=hours)
    elif action == "return":
        reason = form.get("reason_code", "")
        if reason not in workflow.RETURN_REASONS:
            raise _FormError("请选择退单理由。")
        text = _text("text", required=True, low=2, high=1000, label="退单说明")
        workflow.return_appeal(session, appeal, actor=actor, reason_code=reason, text=text or "")
    elif action in ("dispatch", "arbitrate"):
        decision = form.get("decision", "dispatch") if action == "arbitrate" else "dispatch"
        handler_type = form.get("handler_type") or None
        if decision == "dispatch" and handler_type not in HANDLER_LABELS:
            raise _FormError("请选择承办单位类型。")
        units = {
            "grid_id": _id("grid_id") if handler_type == "grid" else None,
            "department_id": _id("department_id") if handler_type == "department" else None,
            "property_company_id": _id("property_company_id") if handler_type == "property_company" else None,
        }
        note = _text("note", required=False, high=500, label="说明")
        if action == "dispatch":
            workflow.dispatch(session, appeal, actor=actor, handler_type=handler_type or "", note=note, **units)
        else:
            code = form.get("code") or None
            workflow.arbitrate(session, appeal, actor=actor, decision=decision, handler_type=handler_type,
                               code=code, note=note, **units)  # fmt: skip
    elif action == "close":
        code = form.get("code", "")
        if code not in ("resolved", "unresolved", "duplicate", "referred"):
            raise _FormError("请选择结案方式。")
        note = _text("note", required=code in ("unresolved", "referred"), high=1000, label="结案说明")
        workflow.close(session, appeal, actor=actor, code=code, note=note)
    elif action == "attach":
        upload = request.files.get("photo")
        data = upload.read(MAX_PHOTO_BYTES + 1) if upload is not None else b""
        note = _text("note", required=False, high=500, label="照片说明")
        attach_photo(session, appeal, actor=actor, directory=media_dir(), data=data, note=note)
    elif action == "recategorise":
        category = form.get("category", "")
        if category not in {c.code for c in CATEGORIES}:
            raise _FormError("请选择正确的类别。")
        recategorise(session, appeal, category, staff_id=member.id, note=_text("note", required=False, high=500,
                                                                               label="说明"))  # fmt: skip
    else:
        raise NotFound("没有这个操作。")


@bp.post("/appeals/<public_id>/<action>")
@signed_in
def appeal_action(public_id: str, action: str) -> Any:
    """One workflow step from the appeal page; refused steps show the page again with the reason in Chinese."""
    session = db_session()
    member = staff()
    appeal = load(session, member, public_id, for_update=True)
    if action not in workflow.allowed_actions(member, appeal):
        body = _detail(
            session, member, appeal, error="这一步现在不能由您办理（状态已变化或不属于您的职责）。", status=409
        )
        session.rollback()
        return body
    try:
        _step(session, member, appeal, action)
    except (_FormError, DomainError) as e:
        session.rollback()
        appeal = load(session, member, public_id)
        status = e.status if isinstance(e, DomainError) else 422
        body = _detail(
            session, member, appeal, error=str(e.message if isinstance(e, DomainError) else e), status=status
        )
        session.rollback()
        return body
    record(action, "appeal", appeal.public_id, status=appeal.status)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.appeal_page", public_id=public_id) + "#timeline", code=303)


@bp.get("/appeals/<public_id>/photos/<int:attachment_id>")
@signed_in
def appeal_photo(public_id: str, attachment_id: int) -> Any:
    """A photo kept with the appeal, for staff who may see the appeal (never cached by shared caches)."""
    session = db_session()
    appeal = load(session, staff(), public_id)
    attachment = session.get(AppealAttachment, attachment_id)
    if attachment is None or attachment.appeal_id != appeal.id:
        raise PageError(404, "没有这张照片。")
    try:
        path, mimetype = stored_file(media_dir(), attachment)
    except NotFound as e:
        raise PageError(404, e.message) from e
    response = send_file(path, mimetype=mimetype, max_age=0, conditional=True)
    response.headers["Cache-Control"] = "private, no-store"
    return response
