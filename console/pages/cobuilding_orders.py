"""共建 pages: one-click orders (一键下单) and their course (接单 or a reasoned decline, schedule, deliver, both sides
confirm, the requester evaluates), the unit's evaluations, the project list (项目清单) and the figures (共建统计).

The order's rules (capacity held by the database, who may take which step, the acceptance deadline) are in
`services.cobuilding.orders`; a page only offers the steps `orders.allowed_actions` names and calls the step.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.pages.cobuilding import (
    PAGE_SIZE,
    Again,
    FormError,
    _common,
    day,
    finish,
    integer,
    moment,
    page_number,
    pager,
    query_choice,
    refuse_or_404,
    submit,
    text,
    with_due,
)
from console.pages.web import PageError, bp, open_to_units, page, record, signed_in, staff
from infra import clock
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from models.cobuilding import ORDER_STATES, CobuildingNeed, CobuildingOrder, CobuildingProject, CobuildingUnit
from models.cobuilding import CobuildingResource as Resource
from models.org import Community
from models.staff import Staff
from services.cobuilding import figures, orders, projects, units, views
from services.errors import NotFound

ACTION_LABELS = {
    "accept": "接单",
    "decline": "婉拒",
    "cancel": "撤单",
    "schedule": "排期",
    "deliver": "已交付",
    "confirm": "确认完成",
    "evaluate": "评价",
}
FIGURE_MONTHS = 6


def load_order(session: Session, member: Staff, order_id: int, *, for_update: bool = False) -> CobuildingOrder:
    """An order the caller may see; another unit's (or another grid's) is a 403 page."""
    try:
        return orders.get(session, member, order_id, for_update=for_update)
    except NotFound:
        raise refuse_or_404(session, CobuildingOrder, order_id, "张共建订单") from None


# ---------------------------------------------------------------- orders


@bp.post("/cobuilding/orders")
@signed_in
def cob_place_order() -> Any:
    """一键下单: order a resource from the list or a need's suggestions; over capacity is refused in Chinese."""
    session, member = db_session(), staff()
    try:
        resource_id = integer("resource_id", "资源", low=1, high=2**31 - 1) or 0
        need_id = integer("need_id", "需求", low=1, high=2**31 - 1, required=False)
        quantity = integer("quantity", "数量", low=1, high=100000, required=False) or 1
        note = text("note", "备注", required=False, high=500)
    except FormError as e:
        raise PageError(422, e.message) from None
    placed = orders.place(session, member, resource_id=resource_id, quantity=quantity, need_id=need_id, note=note)
    record("cob_order_place", "cobuilding_order", placed.order.id, resource_id=resource_id, quantity=quantity,
           need_id=need_id)  # fmt: skip
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.cob_order", order_id=placed.order.id), code=303)


def _order_rows(session: Session, member: Staff, status: str | None) -> dict[str, Any]:
    offset = (page_number() - 1) * PAGE_SIZE
    listed = views.order_list(session, member, status=status, limit=PAGE_SIZE, offset=offset)
    with_due(listed["items"])
    return listed


@bp.get("/cobuilding/orders")
@signed_in
@open_to_units
def cob_orders() -> Any:
    """订单: a unit's own orders (staff: those they may see), newest first, with the time left to 接单."""
    session, member = db_session(), staff()
    status = query_choice("status", ORDER_STATES) or None
    listed = _order_rows(session, member, status)
    body = page("console/cobuilding/orders.html", rows=listed["items"], total=listed["total"], chosen=status or "",
                pages=pager(listed["total"]),
                title="本单位订单" if member.role == units.UNIT_ROLE else "共建订单",
                **_common(session, member))  # fmt: skip
    return finish(session, body)


@bp.get("/cobuilding/evaluations")
@signed_in
@open_to_units
def cob_evaluations() -> Any:
    """评价: the evaluated orders (a unit: its own), with score and words."""
    session, member = db_session(), staff()
    listed = _order_rows(session, member, "evaluated")
    body = page("console/cobuilding/evaluations.html", rows=listed["items"], total=listed["total"],
                pages=pager(listed["total"]),
                **_common(session, member))  # fmt: skip
    return finish(session, body)


def _order_page(
    session: Session, member: Staff, order: CobuildingOrder, *, error: str | None = None, status: int = 200
) -> Any:
    resource = session.get(Resource, order.resource_id)
    requester = session.get(Staff, order.requester_staff_id)
    need = session.get(CobuildingNeed, order.need_id) if order.need_id else None
    return page(
        "console/cobuilding/order.html",
        status,
        order=order,
        view=orders.view(session, member, order),
        resource=resource,
        requester=requester,
        need=need,
        action_labels=ACTION_LABELS,
        error=error,
        form=request.form if error else {},
        **_common(session, member),
    )


@bp.get("/cobuilding/orders/<int:order_id>")
@signed_in
@open_to_units
def cob_order(order_id: int) -> Any:
    """One order: its course, the time left to answer, and only the steps this person may take now."""
    session, member = db_session(), staff()
    return finish(session, _order_page(session, member, load_order(session, member, order_id)))


def _step(session: Session, member: Staff, order: CobuildingOrder, action: str) -> None:
    if action == "accept":
        orders.accept(session, member, order)
    elif action == "decline":
        reason = text("reason", "婉拒原因", high=500)
        orders.decline(session, member, order, reason=reason)
    elif action == "cancel":
        orders.cancel(session, member, order)
    elif action == "schedule":
        orders.schedule(session, member, order, at=moment("at", "服务时间"))
    elif action == "deliver":
        orders.deliver(session, member, order)
    elif action == "confirm":
        orders.confirm(session, member, order)
    elif action == "evaluate":
        score = integer("score", "评分", low=1, high=5) or 0
        reached = integer("beneficiaries", "实际受益人数", high=1000000, required=False)
        words = text("text", "评价", required=False, high=1000)
        orders.evaluate(session, member, order, score=score, text=words, beneficiaries=reached)
    else:  # pragma: no cover - the route only lets known actions through
        raise PageError(404, "没有这个操作。")


@bp.post("/cobuilding/orders/<int:order_id>/<action>")
@signed_in
@open_to_units
def cob_order_action(order_id: int, action: str) -> Any:
    """One step of an order; a refused step (no reason, wrong state, not mine) shows the page again, unsaved."""
    if action not in ACTION_LABELS:
        raise PageError(404, "没有这个操作。")
    session, member = db_session(), staff()
    order = load_order(session, member, order_id, for_update=True)
    if action not in orders.allowed_actions(session, member, order):
        body = _order_page(session, member, order, error="这一步现在不能由您办理（订单状态已变化，或不属于您）。",
                           status=403 if action in ("accept", "decline") else 409)  # fmt: skip
        session.rollback()
        return body
    done = submit(
        session,
        lambda: _step(session, member, order, action) or True,
        lambda m, s: _order_page(session, member, load_order(session, member, order_id), error=m, status=s),
    )
    if isinstance(done, Again):
        session.rollback()
        return done.body
    record(f"cob_order_{action}", "cobuilding_order", order.id, status=order.status)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.cob_order", order_id=order.id), code=303)


# ---------------------------------------------------------------- projects


def _project_choices(session: Session, member: Staff) -> dict[str, Any]:
    if member.community_id is None or not units.is_coordinator(member, member.community_id):
        return {"unit_choices": [], "need_choices": [], "resource_choices": []}
    unit_rows = units.list_units(session, member)
    need_rows = list(
        session.scalars(
            select(CobuildingNeed)
            .where(CobuildingNeed.community_id == member.community_id)
            .order_by(CobuildingNeed.id.desc())
            .limit(200)
        )
    )
    resource_rows = list(
        session.scalars(
            select(Resource).where(Resource.unit_id.in_([u.id for u in unit_rows])).order_by(Resource.id.desc())
            .limit(300)
        )
    )  # fmt: skip
    return {"unit_choices": unit_rows, "need_choices": need_rows, "resource_choices": resource_rows}


def _projects_page(session: Session, member: Staff, *, error: str | None = None, status: int = 200) -> Any:
    listed = views.project_list(session, member, limit=PAGE_SIZE, offset=(page_number() - 1) * PAGE_SIZE)
    return page(
        "console/cobuilding/projects.html",
        status,
        rows=listed["items"],
        total=listed["total"],
        pages=pager(listed["total"]),
        error=error,
        form=request.form if error else {},
        **_project_choices(session, member),
        **_common(session, member),
    )


@bp.get("/cobuilding/projects")
@signed_in
@open_to_units
def cob_projects() -> Any:
    """项目清单: projects of my community (a unit: those it takes part in); coordinators start one here."""
    session = db_session()
    return finish(session, _projects_page(session, staff()))


def _links() -> list[tuple[int, int | None, int | None]]:
    out = []
    for unit_raw, need_raw, resource_raw in zip(
        request.form.getlist("link_unit"), request.form.getlist("link_need"), request.form.getlist("link_resource"),
        strict=False,
    ):  # fmt: skip
        if not unit_raw.strip():
            if need_raw.strip() or resource_raw.strip():
                raise FormError("每一行对接须选择成员单位。")
            continue
        if not all(x.isdigit() for x in (unit_raw, need_raw or "0", resource_raw or "0")):
            raise FormError("对接的单位、需求或资源无法识别。")
        out.append((int(unit_raw), int(need_raw) if need_raw else None, int(resource_raw) if resource_raw else None))
    if not out:
        raise FormError("项目至少要有一家成员单位参与。")
    return out


@bp.post("/cobuilding/projects")
@signed_in
def cob_create_project() -> Any:
    """Start a project pairing needs with resources and units."""
    session, member = db_session(), staff()

    def act() -> CobuildingProject:
        starts_on = day("starts_on", "开始日期") or clock.local_now().date()
        ends_on = day("ends_on", "结束日期") or starts_on
        return projects.create(
            session, member, title=text("title", "项目名称", high=100), goal=text("goal", "项目目标", high=2000),
            starts_on=starts_on, ends_on=ends_on,
            budget_yuan=integer("budget_yuan", "预算（元）", high=10**9, required=False) or 0, links=_links(),
        )  # fmt: skip

    made = submit(session, act, lambda m, s: _projects_page(session, member, error=m, status=s))
    if isinstance(made, Again):
        return made.body
    record("cob_project_create", "cobuilding_project", made.id, title=made.title)
    session.commit()
    return redirect(url_for("console_pages.cob_project", project_id=made.id), code=303)


def _load_project(session: Session, member: Staff, project_id: int) -> CobuildingProject:
    try:
        return projects.get(session, member, project_id)
    except NotFound:
        raise refuse_or_404(session, CobuildingProject, project_id, "个共建项目") from None


def _project_page(
    session: Session, member: Staff, project: CobuildingProject, *, error: str | None = None, status: int = 200
) -> Any:
    view = projects.view(session, project)
    unit_names = dict(session.execute(select(CobuildingUnit.id, CobuildingUnit.name)).all())
    need_ids = [x["need_id"] for x in view["links"] if x["need_id"]]
    resource_ids = [x["resource_id"] for x in view["links"] if x["resource_id"]]
    need_titles = dict(session.execute(select(CobuildingNeed.id, CobuildingNeed.title).where(
        CobuildingNeed.id.in_(need_ids))).all())  # fmt: skip
    resource_titles = dict(session.execute(select(Resource.id, Resource.title).where(
        Resource.id.in_(resource_ids))).all())  # fmt: skip
    own = units.unit_of(session, member)
    coordinator = units.is_coordinator(member, project.community_id)
    takes_part = own is not None and any(x["unit_id"] == own.id for x in view["links"])
    return page(
        "console/cobuilding/project.html",
        status,
        project=project,
        view=view,
        unit_names=unit_names,
        need_titles=need_titles,
        resource_titles=resource_titles,
        may_report=project.status == "active" and (coordinator or takes_part),
        may_close=project.status == "active" and coordinator,
        error=error,
        form=request.form if error else {},
        **_common(session, member),
    )


@bp.get("/cobuilding/projects/<int:project_id>")
@signed_in
@open_to_units
def cob_project(project_id: int) -> Any:
    """One project: its units, needs and resources, the progress updates, and the result once closed."""
    session, member = db_session(), staff()
    return finish(session, _project_page(session, member, _load_project(session, member, project_id)))


def _photos() -> list[str]:
    lines = [line.strip() for line in request.form.get("photos", "").splitlines() if line.strip()]
    if len(lines) > 20 or any(len(line) > 300 for line in lines):
        raise FormError("照片地址最多 20 个，每个不超过 300 个字符。")
    return lines


@bp.post("/cobuilding/projects/<int:project_id>/<action>")
@signed_in
@open_to_units
def cob_project_action(project_id: int, action: str) -> Any:
    """A progress update (coordinators and the units taking part) or 结项 with the result (coordinators)."""
    if action not in ("progress", "close"):
        raise PageError(404, "没有这个操作。")
    session, member = db_session(), staff()
    project = _load_project(session, member, project_id)

    def act() -> bool:
        if action == "progress":
            projects.report_progress(session, member, project, text=text("text", "进展说明", high=2000),
                                     progress=integer("progress", "进度（%）", high=100) or 0,
                                     photos=_photos())  # fmt: skip
        else:
            projects.close(session, member, project, result=text("result", "项目成效", high=2000), photos=_photos())
        return True

    done = submit(
        session, act, lambda m, s: _project_page(session, member, _load_project(session, member, project_id),
                                                 error=m, status=s),
    )  # fmt: skip
    if isinstance(done, Again):
        return done.body
    record(f"cob_project_{action}", "cobuilding_project", project.id, progress=project.progress)
    session.commit()
    return redirect(url_for("console_pages.cob_project", project_id=project.id), code=303)


# ---------------------------------------------------------------- figures


def _months_back(month: str, count: int) -> list[str]:
    year, mon = (int(x) for x in month.split("-"))
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{mon:02d}")
        year, mon = (year - 1, 12) if mon == 1 else (year, mon - 1)
    return list(reversed(out))


def bars(rows: list[dict[str, Any]], label: str, series: tuple[tuple[str, str, str], ...]) -> dict[str, Any]:
    """An SVG bar chart's geometry: one group per row, one bar per series (key, name, css class), scaled to the
    largest value (drawn with SVG attributes and classes only: the CSP allows no inline style)."""
    width, height, top, bottom, left = 640, 220, 16, 40, 8
    peak = max([int(r.get(k) or 0) for r in rows for k, _, _ in series] + [1])
    group = (width - left) / max(len(rows), 1)
    bar = min(28.0, group * 0.8 / len(series))
    out = []
    for i, row in enumerate(rows):
        x0 = left + i * group + (group - bar * len(series)) / 2
        for j, (key, name, css) in enumerate(series):
            value = int(row.get(key) or 0)
            h = (height - top - bottom) * value / peak
            out.append(
                {"x": round(x0 + j * bar, 1), "y": round(height - bottom - h, 1), "w": round(bar - 2, 1),
                 "h": round(h, 1), "css": css, "value": value, "title": f"{row[label]} {name} {value}"}
            )  # fmt: skip
    labels = [{"x": round(left + (i + 0.5) * group, 1), "text": str(r[label])[:8]} for i, r in enumerate(rows)]
    return {"width": width, "height": height, "base": height - bottom, "bars": out, "labels": labels,
            "series": series}  # fmt: skip


SERIES = (("orders_placed", "下单", "bar-placed"), ("orders_accepted", "接单", "bar-accepted"),
          ("orders_completed", "完成", "bar-completed"))  # fmt: skip


@bp.get("/cobuilding/figures")
@signed_in
def cob_figures() -> Any:
    """共建统计: a month's figures per member unit with the community's total, and the last six months' trend."""
    session, member = db_session(), staff()
    month = request.args.get("month", "").strip() or clock.local_now().strftime("%Y-%m")
    community_id = None
    if member.role in units.CROSS_COMMUNITY_ROLES:
        raw = request.args.get("community", "").strip()
        community_id = int(raw) if raw.isdigit() else member.community_id
    shown = figures.figures_for(session, member, month, community_id=community_id)
    trend = []
    for m in _months_back(month, FIGURE_MONTHS):
        total = figures.figures_for(session, member, m, community_id=shown["community_id"])["total"] or {}
        trend.append({"month": m, **total})
    body = page(
        "console/cobuilding/figures.html",
        shown=shown,
        month=month,
        trend=trend,
        unit_chart=bars(shown["units"], "unit_name", SERIES),
        trend_chart=bars(trend, "month", SERIES),
        community=session.get(Community, shown["community_id"]) if shown["community_id"] else None,
        communities=list(session.scalars(select(Community).order_by(Community.id)))
        if member.role in units.CROSS_COMMUNITY_ROLES
        else [],
        **_common(session, member),
    )
    return finish(session, body)
