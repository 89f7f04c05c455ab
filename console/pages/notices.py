"""通知: compose a notice for the community, a grid or an estate, publish it (urgent ones are pushed to every
resident in scope through the notification rules and the outbox), and see read receipts."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from sqlalchemy import select

from console.pages.web import PageError, bp, page, record, signed_in, staff
from infra import clock
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from models.notice import Notice
from models.org import Estate, Grid
from services.errors import DomainError
from services.notices import announcements as notices

CATEGORY_LABELS = {"community": "社区通知", "property": "物业通知", "emergency": "紧急通知"}


def _may_publish() -> None:
    if staff().role not in notices.PUBLISHER_ROLES:
        raise PageError(403, "您的角色不能发布通知。")


def _list(errors: dict[str, str] | None = None, status: int = 200) -> Any:
    member = staff()
    session = db_session()
    rows = list(
        session.scalars(
            select(Notice).where(Notice.community_id == member.community_id).order_by(Notice.id.desc()).limit(50)
        )
    )
    receipts = {n.public_id: notices.receipt_counts(session, member, n.public_id) for n in rows}
    grids = list(session.scalars(select(Grid).where(Grid.community_id == member.community_id).order_by(Grid.code)))
    estates = list(session.scalars(select(Estate).where(Estate.community_id == member.community_id)))
    return page("console/notices.html", status, rows=rows, receipts=receipts, grids=grids, estates=estates,
                categories=CATEGORY_LABELS, errors=errors or {}, form=request.form)  # fmt: skip


@bp.get("/notices")
@signed_in
def notices_page() -> Any:
    """My community's notices with read receipts, and the compose form."""
    _may_publish()
    body = _list()
    db_session().commit()
    return body


def _scope_id(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None


@bp.post("/notices")
@signed_in
def publish_notice() -> Any:
    """Publish the composed notice; mistakes come back next to their fields."""
    _may_publish()
    form = request.form
    errors: dict[str, str] = {}
    title, body = form.get("title", "").strip(), form.get("body", "").strip()
    if not 2 <= len(title) <= 100:
        errors["title"] = "标题应为 2–100 个字。"
    if not 2 <= len(body) <= 5000:
        errors["body"] = "正文应为 2–5000 个字。"
    category = form.get("category", "community")
    if category not in CATEGORY_LABELS:
        errors["category"] = "请选择通知类别。"
    scope = form.get("scope", "community")
    grid_id = _scope_id("grid_id") if scope == "grid" else None
    estate_id = _scope_id("estate_id") if scope == "estate" else None
    if (scope == "grid" and grid_id is None) or (scope == "estate" and estate_id is None):
        errors["scope"] = "请选择发布范围中的网格或小区。"
    session = db_session()
    if not errors:
        try:
            notice = notices.publish(session, staff(), title=title, body=body, category=category, grid_id=grid_id,
                                     estate_id=estate_id, published_at=clock.now(),
                                     urgent=form.get("urgent") == "1")  # fmt: skip
        except DomainError as e:
            session.rollback()
            errors["scope"] = e.message
    if errors:
        page_body = _list(errors, 422)
        session.rollback()
        return page_body
    record("publish_notice", "notice", notice.public_id, category=category, scope=scope)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.notices_page"), code=303)
