"""分析研判: the KPI table of the staff member's scope, computed by `services.appeals.kpi` from the event log."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import request

from console.pages.web import PageError, bp, page, signed_in, staff
from console.reports import UNIT_OF_ROLE, kpi_scope, kpi_window, local_midnight
from infra.web import db_session
from services.appeals import kpi

GROUP_LABELS = {"grid": "按网格", "department": "按部门", "property_company": "按物业公司", "month": "按月份"}


def _day(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError as e:
        raise PageError(400, "日期格式应为 年-月-日（如 2026-12-01）。") from e


@bp.get("/kpi")
@signed_in
def kpi_page() -> Any:
    """KPIs (response, completion, resolution, on-time, satisfaction, hours to resolve) with sample sizes."""
    member = staff()
    default = UNIT_OF_ROLE.get(member.role, ("grid", None))[0]
    group_by = request.args.get("group_by", default)
    if group_by not in GROUP_LABELS:
        raise PageError(400, "未知的统计口径。")
    unit = kpi_scope(member, group_by)
    first, last = kpi_window(_day("from"), _day("to"))
    session = db_session()
    window = {
        "start": local_midnight(first),
        "end": local_midnight(last + timedelta(days=1)),
        "community_id": member.community_id,
    }
    rows = kpi.kpi_table(session, group_by=group_by, **window)  # type: ignore[arg-type]
    if unit is not None:
        rows = [r for r in rows if r.key == unit]
    total = kpi.kpi_summary(session, **window) if unit is None else None
    body = page("console/kpi.html", rows=rows, total=total, group_by=group_by, group_labels=GROUP_LABELS,
                first=first, last=last, method=kpi.METHOD)  # fmt: skip
    session.commit()
    return body
