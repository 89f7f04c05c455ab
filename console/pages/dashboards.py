"""分析研判 dashboards: KPIs by grid, department, property company, category and month with sample sizes,
hotspots (category × grid) and the 12-week trend, in the signed-in staff member's scope.

Scope is the KPI page's rule (`console.reports.kpi_scope`): community and street roles see every unit, a grid,
department or property-company member only the rows attributed to their own unit. Figures come from
`services.appeals.analytics` (the KPI definitions of `services.appeals.kpi`, summed from their summary table).
Charts are SVG drawn on the server (`console.charts`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date, timedelta
from typing import Any

from flask import current_app, request
from sqlalchemy import select

from console.charts import Series, bar_chart, line_chart
from console.pages.web import PageError, bp, page, signed_in, staff
from console.reports import UNIT_OF_ROLE, kpi_scope, kpi_window, local_midnight
from infra import clock
from infra.http import ApiError
from infra.web import db_session
from models.org import Community
from models.staff import Staff
from nlp.taxonomy import CATEGORIES, CODES
from services.appeals import analytics, kpi
from services.appeals.workflow import GLOBAL_ROLES

GROUP_LABELS = {
    "grid": "按网格",
    "department": "按部门",
    "property_company": "按物业公司",
    "category": "按类别",
    "month": "按月份",
}


def _day(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError as e:
        raise PageError(400, "日期格式应为 年-月-日（如 2026-12-01）。") from e


def _unit(member: Staff) -> tuple[str, int] | None:
    """The unit whose rows this member may see (None = every unit of the community), or Forbidden."""
    kind = UNIT_OF_ROLE.get(member.role, ("grid", None))[0]
    unit_id = kpi_scope(member, kind)
    return None if unit_id is None else (kind, unit_id)


def _community(member: Staff) -> int | None:
    """Street and admin roles choose a community (or all); everyone else sees their own."""
    if member.role not in GLOBAL_ROLES:
        return member.community_id
    raw = request.args.get("community", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise PageError(400, "未知的社区。")
    return int(raw)


def _category() -> str | None:
    raw = request.args.get("category", "").strip()
    if raw and raw not in CODES:
        raise PageError(400, "未知的诉求类别。")
    return raw or None


# The figures of one scope and filter are kept for a minute per web process. The summary's version is part of
# the key, so a new event on any appeal shows at the next request; only a deadline passing with no event (the
# trend's 超时) can wait up to a minute.
CACHE_SECONDS = 60.0
CACHE_SIZE = 256
_cache: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
_cache_lock = threading.Lock()


def _cached(key: Hashable, compute: Callable[[], Any]) -> Any:
    """compute(), or its value from the last minute for the same key."""
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            _cache.move_to_end(key)
            return hit[1]
    value = compute()
    if CACHE_SECONDS > 0:
        with _cache_lock:
            _cache[key] = (now + CACHE_SECONDS, value)
            _cache.move_to_end(key)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return value


def _rate_bars(rows: list[kpi.KpiRow]) -> list[tuple[str, float | None, str]]:
    bars = []
    for r in rows:
        if analytics.enough(r.appeals):
            bars.append((r.label, r.completion_rate, f"n={r.appeals}"))
        else:
            bars.append((r.label, None, f"样本不足 n={r.appeals}"))
    return bars


@bp.get("/dashboards")
@signed_in
def dashboards_page() -> Any:
    """The dashboards of my scope: KPI cards and table, completion chart, hotspots, weekly trend."""
    member = staff()
    unit = _unit(member)
    allowed = list(GROUP_LABELS) if unit is None else [unit[0], "category", "month"]
    group_by = request.args.get("group_by", allowed[0])
    if group_by not in allowed:
        raise PageError(400, "未知的统计口径，或您的角色不能按此口径查看。")
    try:
        first, last = kpi_window(_day("from"), _day("to"))
    except ApiError as e:
        raise PageError(400, e.message) from e
    filters = analytics.Filters(
        start=local_midnight(first),
        end=local_midnight(last + timedelta(days=1)),
        community_id=_community(member),
        category=_category(),
        unit=unit,
    )
    session = db_session()
    analytics.refresh_facts(session)
    version = analytics.summary_version(session)
    if not version:  # another request is building the summary for the first time (PostgreSQL): not zeros
        raise PageError(503, "统计数据正在首次生成（约需十几秒），请稍后刷新本页。")
    key = (current_app.config["DATABASE_URL"], version, filters, group_by)
    view, trend = _cached(key, lambda: (analytics.overview(session, filters, group_by),  # type: ignore[arg-type]
                                        analytics.weekly_trend(session, filters)))  # fmt: skip
    rows, total, heat = view.rows, view.total, view.heat
    communities = []
    if member.role in GLOBAL_ROLES:
        communities = list(session.execute(select(Community.id, Community.name).order_by(Community.name)))
    labels = [w.start.astimezone(clock.LOCAL_TZ).strftime("%m-%d") for w in trend.weeks]
    trend_svg = line_chart(
        "近12周诉求走势",
        f"{labels[0]} 至 {labels[-1]} 每周受理、办结和超时未办的诉求件数："
        + "；".join(
            f"{lb} 受理{w.received} 办结{w.closed} 超时{w.overdue}" for lb, w in zip(labels, trend.weeks, strict=True)
        ),
        labels,
        [
            Series("受理", [w.received for w in trend.weeks], "series-received"),
            Series("办结", [w.closed for w in trend.weeks], "series-closed"),
            Series("超时", [w.overdue for w in trend.weeks], "series-overdue"),
        ],
        x_title="周（周一起）",
        y_title="件数",
    )
    bars = _rate_bars(rows)
    completion_svg = bar_chart(
        f"办结率（{GROUP_LABELS[group_by][1:]}）",
        "各单位办结率（已办结诉求 ÷ 诉求数）及样本量："
        + "；".join(
            f"{label} {'样本不足' if rate is None else f'{rate * 100:.0f}%'}（{note}）" for label, rate, note in bars
        ),
        bars,
        x_title="办结率",
        y_title=GROUP_LABELS[group_by][1:],
    )
    body = page(
        "console/dashboards.html",
        rows=rows, total=total, heat=heat, trend=trend, trend_labels=labels, trend_svg=trend_svg,
        completion_svg=completion_svg, group_by=group_by, group_labels={k: GROUP_LABELS[k] for k in allowed},
        first=first, last=last, filters=filters, categories=CATEGORIES, communities=communities,
        min_sample=analytics.MIN_SAMPLE, method=kpi.METHOD, scoped=unit is not None,
    )  # fmt: skip
    session.commit()
    return body
