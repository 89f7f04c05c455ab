"""收件箱: the appeals in the signed-in staff member's scope, urgent and overdue first, filtered and searched.

Scope is `services.appeals.workflow.visible_to_staff`, the same rule as the JSON API; an htmx poll shows a new urgent
appeal with an alert without a reload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import request
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from console.pages.web import PageError, bp, page, signed_in, staff
from infra.web import db_session
from models.appeal import APPEAL_STATES, Appeal
from models.org import Building, Grid
from models.staff import Staff
from nlp.taxonomy import CATEGORIES, label_of
from services.appeals import states, workflow

PAGE_SIZE = 50
BEIJING = timedelta(hours=8)


@dataclass(frozen=True)
class Filters:
    """The inbox filters, as given in the query string (so a view can be bookmarked)."""

    state: str = ""
    category: str = ""
    grid: int | None = None
    urgent: bool = False
    overdue: bool = False
    start: date | None = None
    end: date | None = None
    q: str = ""


def _date(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as e:
        raise PageError(400, f"日期格式应为 年-月-日（如 2026-12-01），收到的是“{raw[:20]}”。") from e


def read_filters() -> Filters:
    """Parse and check the inbox filters; a bad value is a 400 page saying which."""
    state = request.args.get("state", "").strip()
    if state and state not in (*APPEAL_STATES, "open"):
        raise PageError(400, "未知的状态筛选。")
    category = request.args.get("category", "").strip()
    if category and category not in {c.code for c in CATEGORIES}:
        raise PageError(400, "未知的类别筛选。")
    raw_grid = request.args.get("grid", "").strip()
    if raw_grid and not raw_grid.isdigit():
        raise PageError(400, "网格筛选应为网格编号。")
    start, end = _date("from"), _date("to")
    if start and end and end < start:
        raise PageError(400, "结束日期不能早于开始日期。")
    return Filters(
        state=state,
        category=category,
        grid=int(raw_grid) if raw_grid else None,
        urgent=request.args.get("urgent") == "1",
        overdue=request.args.get("overdue") == "1",
        start=start,
        end=end,
        q=request.args.get("q", "").strip()[:50],
    )


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC) - BEIJING  # midnight in Beijing


def filtered(session: Session, member: Staff, f: Filters) -> Select[tuple[Appeal]]:
    """The appeals of the staff member's scope that match the filters."""
    stmt = workflow.visible_to_staff(session, member)
    if f.state == "open":
        stmt = stmt.where(Appeal.status.in_(states.NOT_CLOSED))
    elif f.state:
        stmt = stmt.where(Appeal.status == f.state)
    if f.category:
        stmt = stmt.where(Appeal.category == f.category)
    if f.grid is not None:
        stmt = stmt.where(Appeal.grid_id == f.grid)
    if f.urgent:
        stmt = stmt.where(Appeal.urgent.is_(True))
    if f.overdue:
        stmt = stmt.where(Appeal.overdue.is_(True))
    if f.start:
        stmt = stmt.where(Appeal.created_at >= _day_start(f.start))
    if f.end:
        stmt = stmt.where(Appeal.created_at < _day_start(f.end + timedelta(days=1)))
    if f.q:
        like = f"%{f.q}%"
        in_building = select(Building.id).where(Building.name.like(like))
        stmt = stmt.where(
            or_(Appeal.number.like(like), Appeal.text.like(like), Appeal.address.like(like),
                Appeal.building_id.in_(in_building))
        )  # fmt: skip
    return stmt


def counts_by_state(session: Session, member: Staff) -> dict[str, int]:
    """How many appeals of each state the staff member's scope holds."""
    scope = workflow.visible_to_staff(session, member).subquery()
    rows = session.execute(select(scope.c.status, func.count()).group_by(scope.c.status))
    return {status: count for status, count in rows}


def urgent_after(session: Session, member: Staff, after_id: int) -> list[Appeal]:
    """Open urgent appeals in scope that arrived after `after_id` (what the alert announces)."""
    stmt = workflow.visible_to_staff(session, member).where(
        Appeal.id > after_id, Appeal.urgent.is_(True), Appeal.status.in_(states.NOT_CLOSED)
    )
    return list(session.scalars(stmt.order_by(Appeal.id.desc()).limit(5)))


@bp.get("/")
@signed_in
def inbox() -> Any:
    """收件箱 with filters, counts per state and the urgent-appeal alert poll."""
    member = staff()
    session = db_session()
    f = read_filters()
    open_first = Appeal.status.in_(states.NOT_CLOSED)
    rows = list(
        session.scalars(
            filtered(session, member, f)
            .order_by(open_first.desc(), Appeal.urgent.desc(), Appeal.overdue.desc(), Appeal.due_at.is_(None),
                      Appeal.due_at, Appeal.id.desc())
            .limit(PAGE_SIZE)
        )
    )  # fmt: skip
    total = session.scalar(select(func.count()).select_from(filtered(session, member, f).subquery())) or 0
    newest = session.scalar(select(func.max(Appeal.id))) or 0
    grids = list(session.scalars(select(Grid).order_by(Grid.code)))
    buildings = {b.id: b.name for b in session.scalars(select(Building))}
    body = page(
        "console/inbox.html",
        rows=rows,
        total=total,
        f=f,
        counts=counts_by_state(session, member),
        states=APPEAL_STATES,
        status_labels=workflow.STATUS_LABELS,
        categories=CATEGORIES,
        label_of=label_of,
        grids=grids,
        grid_names={g.id: g.name for g in grids},
        buildings=buildings,
        newest=newest,
    )
    session.commit()  # the session's last-seen time
    return body


@bp.get("/inbox/alerts")
@signed_in
def inbox_alerts() -> Any:
    """htmx poll: an alert for every open urgent appeal in scope that arrived after the page was loaded."""
    raw = request.args.get("after", "0")
    after = int(raw) if raw.isdigit() else 0
    session = db_session()
    found = urgent_after(session, staff(), after)
    body = page("console/_alerts.html", found=found, after=after, label_of=label_of)
    session.rollback()  # a poll is not the person at work: it does not keep an idle session alive
    return body
