"""分析研判: the dashboards' KPIs, hotspots and weekly trend, read from a summary kept current from the event log.

The KPI definitions are those of `services.appeals.kpi` (its stages and per-row measures): `refresh_facts`
runs them once per changed appeal and stores one row per appeal and dispatch segment in `kpi_fact`; every
dashboard figure is then a GROUP BY over that narrow table (indexed on the receive, close and deadline times),
so a page answers in milliseconds over 100,000 appeals where replaying the log takes over a second.

Freshness: `refresh_facts` re-reads the appeals that have any event created since the last refresh (less a
margin for transactions that committed late), so a dashboard that refreshes first shows the log as it is.
Scope: a unit filter (grid, department or property company) keeps the rows attributed to that unit exactly as
the KPI table attributes them (dispatches to the unit's segments, appeals to the unit of their last dispatch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Integer, bindparam, cast, delete, func, literal_column, select, text
from sqlalchemy.orm import Session

from infra import clock
from models.analytics import KpiFact, KpiFactRefresh
from models.appeal import AppealEvent
from models.base import UTCDateTime
from nlp.taxonomy import label_of
from services.appeals import kpi

Grouping = Literal["grid", "department", "property_company", "category", "month", "all"]
GROUPINGS: tuple[str, ...] = ("grid", "department", "property_company", "category", "month", "all")
UNIT_KINDS = ("grid", "department", "property_company")
# A rate computed on fewer cases than this is shown as 样本不足 rather than as a figure to compare.
MIN_SAMPLE = 5
TREND_WEEKS = 12
WEEK_SECONDS = 7 * 86400  # Asia/Shanghai keeps no summer time: local weeks are 604,800 s apart
REFRESH_NAME = "kpi"
# Events are stamped when written and become visible at commit: re-read this much before the last refresh.
LATE_COMMIT_MARGIN = timedelta(minutes=5)
# Any constant: PostgreSQL's advisory lock that lets one request at a time rewrite the summary.
_PG_LOCK = 720_312
UNCATEGORISED = "未分类"
_SUMS = (*kpi.MEASURES,)


@dataclass(frozen=True)
class Filters:
    """What a dashboard shows: received in [start, end), optionally one community, one category, one unit."""

    start: datetime
    end: datetime
    community_id: int | None = None
    category: str | None = None
    unit: tuple[str, int] | None = None  # (grid | department | property_company, id): the viewer's scope


@dataclass(frozen=True)
class HeatTable:
    """Appeals per category (rows) and grid (columns), most frequent categories first."""

    categories: list[tuple[str | None, str]]
    grids: list[tuple[int | None, str]]
    cells: dict[tuple[str | None, int | None], int]
    peak: int

    def count(self, category: str | None, grid: int | None) -> int:
        """Appeals of a category in a grid (0 when none)."""
        return self.cells.get((category, grid), 0)

    def level(self, category: str | None, grid: int | None) -> int:
        """The cell's shade 0–5 relative to the busiest cell (0 = none)."""
        n = self.count(category, grid)
        return 0 if n == 0 or self.peak == 0 else math.ceil(5 * n / self.peak)


@dataclass(frozen=True)
class Week:
    """One week of the trend: appeals received, closed, and whose deadline passed unmet, that week."""

    start: datetime
    received: int
    closed: int
    overdue: int


@dataclass(frozen=True)
class Trend:
    """The last weeks' received / closed / overdue counts, oldest first."""

    weeks: list[Week] = field(default_factory=list)


def _epoch(value: datetime) -> float:
    return value.timestamp()


def _fact_sql(d: kpi.Dialect, cohort_filter: str) -> str:
    """INSERT … SELECT of the summary rows of the appeals the cohort filter selects (all when empty)."""
    cte = kpi.stages(d, kpi.dispatch_keys(d), cohort_filter=cohort_filter, with_month=True, extra=True)
    measures = kpi.measures(d)
    names = ", ".join(name for name, _ in measures)
    values = ",\n       ".join(expr for _, expr in measures)
    last = "w.seg = w.last_seg"
    overdue = f"{kpi.NOT_CONSULT_LAST} AND w.due_t IS NOT NULL AND (w.resolve_t IS NULL OR w.resolve_t > w.due_t)"
    return f"""INSERT INTO kpi_fact (appeal_id, seg, is_last, community_id, category, created_s, month, grid_id,
    department_id, property_company_id, closed_s, overdue_s, {names})
{cte}
SELECT w.appeal_id, w.seg, CASE WHEN {last} THEN 1 ELSE 0 END, a.community_id, a.category,
       {d.epoch("c.created_t")}, w.month, w.k_grid, w.k_department, w.k_property_company,
       CASE WHEN {kpi.CLOSED_NOW} THEN {d.epoch("w.last_close_t")} END,
       CASE WHEN {overdue} THEN {d.epoch("w.due_t")} END,
       {values}
FROM w
JOIN cohort c ON c.appeal_id = w.appeal_id
JOIN appeal a ON a.id = w.appeal_id
WHERE {kpi.ROW_FILTER}
"""  # noqa: S608 - only the fixed snippets of services.appeals.kpi are formatted in; values are bound


def refresh_facts(session: Session, *, full: bool = False, tz: str = "Asia/Shanghai") -> bool:
    """Bring the summary up to date with the event log (all of it when `full` or never built); caller commits.

    Returns False when nothing had to be re-read or another request was already refreshing (PostgreSQL),
    True when rows were rewritten.
    """
    now = clock.now()
    dialect = kpi.Dialect(session.get_bind().dialect.name, tz, now)
    if dialect.pg and not session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PG_LOCK}).scalar():
        return False  # another request is rewriting it; the rows already there are at most seconds old
    state = session.get(KpiFactRefresh, REFRESH_NAME)
    params: dict[str, Any] = {"tz": tz} if dialect.pg else {}
    if state is None or full:
        session.execute(delete(KpiFact))
        stmt = text(_fact_sql(dialect, ""))
    else:
        since = state.refreshed_at - LATE_COMMIT_MARGIN
        touched = select(AppealEvent.appeal_id).where(AppealEvent.created_at >= since)
        if not session.scalar(select(touched.exists())):
            return False
        session.execute(delete(KpiFact).where(KpiFact.appeal_id.in_(touched)))
        cohort_filter = "AND e.appeal_id IN (SELECT appeal_id FROM appeal_event WHERE created_at >= :since)"
        stmt = text(_fact_sql(dialect, cohort_filter)).bindparams(bindparam("since", type_=UTCDateTime()))
        params["since"] = since
    if dialect.pg:
        kpi.execute_tuned(session, stmt, params, fetch=False)
    else:
        session.execute(stmt, params)
    if state is None:
        session.add(KpiFactRefresh(name=REFRESH_NAME, refreshed_at=now))
    else:
        # Strictly later each time (even under a frozen test clock): the time is also the summary's version.
        state.refreshed_at = max(now, state.refreshed_at + timedelta(microseconds=1))
    session.flush()
    return True


def summary_version(session: Session) -> str:
    """When the summary was last rewritten (empty before it was built): changes whenever its rows do."""
    state = session.get(KpiFactRefresh, REFRESH_NAME)
    return "" if state is None else state.refreshed_at.isoformat()


def _where(f: Filters, *, dated: bool = True) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if dated:
        conditions += [KpiFact.created_s >= _epoch(f.start), KpiFact.created_s < _epoch(f.end)]
    if f.community_id is not None:
        conditions.append(KpiFact.community_id == f.community_id)
    if f.category is not None:
        conditions.append(KpiFact.category == f.category)
    if f.unit is not None:
        kind, unit_id = f.unit
        if kind not in UNIT_KINDS:
            raise ValueError(f"unit kind must be one of {', '.join(UNIT_KINDS)}, not {kind!r}")
        conditions.append(getattr(KpiFact, f"{kind}_id") == unit_id)
    return conditions


def _sums() -> list[Any]:
    return [func.coalesce(func.sum(getattr(KpiFact, name)), 0) for name in _SUMS]


def _label(group_by: str, key: Any, labels: dict[Any, str]) -> str:
    if group_by == "month":
        return f"{int(key) // 100:04d}-{int(key) % 100:02d}"
    if group_by == "category":
        return label_of(key) if key else UNCATEGORISED
    if group_by == "all":
        return "合计"
    return kpi.UNASSIGNED_LABEL if key is None else labels.get(key, f"#{key}")


def _to_rows(session: Session, group_by: str, raw: list[tuple[Any, ...]]) -> list[kpi.KpiRow]:
    """KpiRows from (key, *sums in MEASURES order) tuples, labelled."""
    labels = kpi.unit_labels(session, group_by, [r[0] for r in raw]) if group_by in UNIT_KINDS else {}
    result = []
    for r in raw:
        values = dict(zip(_SUMS, r[1:], strict=True))
        samples = int(values["resolve_samples"])
        label = _label(group_by, r[0], labels)
        counts = {k: int(v) for k, v in values.items() if k != "hours_to_resolve"}
        result.append(
            kpi.KpiRow(
                group_by=group_by,
                key=label if group_by == "month" else r[0],
                label=label,
                avg_hours_to_resolve=float(values["hours_to_resolve"]) / samples if samples else None,
                **counts,
            )
        )
    return result


def kpi_rows(session: Session, filters: Filters, group_by: Grouping) -> list[kpi.KpiRow]:
    """KPI rows (every rate with its sample size) per grid, department, property company, category or month."""
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}, not {group_by!r}")
    key: Any = {
        "grid": KpiFact.grid_id,
        "department": KpiFact.department_id,
        "property_company": KpiFact.property_company_id,
        "category": KpiFact.category,
        "month": KpiFact.month,
    }.get(group_by)
    conditions = _where(filters)
    if group_by in ("department", "property_company"):
        conditions.append(key.is_not(None))
    if key is None:
        stmt = select(*_sums()).where(*conditions).having(func.count() > 0)
        raw = [("all", *r) for r in session.execute(stmt)]
    else:
        stmt = select(key, *_sums()).where(*conditions).group_by(key)
        raw = sorted((tuple(r) for r in session.execute(stmt)), key=lambda r: (r[0] is None, r[0] or 0))
    return _to_rows(session, group_by, raw)


def _cells(session: Session, filters: Filters) -> list[tuple[Any, ...]]:
    """(category, grid_id, *sums) per category × grid: every row of the filters falls in exactly one cell."""
    stmt = select(KpiFact.category, KpiFact.grid_id, *_sums()).where(*_where(filters))
    return [tuple(r) for r in session.execute(stmt.group_by(KpiFact.category, KpiFact.grid_id))]


def _regroup(cells: list[tuple[Any, ...]], index: int | None) -> list[tuple[Any, ...]]:
    """Sum the cells by category (index 0), grid (1) or into one total (None): adding up aggregates."""
    totals: dict[Any, list[float]] = {}
    for cell in cells:
        key = "all" if index is None else cell[index]
        acc = totals.setdefault(key, [0] * len(_SUMS))
        for i, value in enumerate(cell[2:]):
            acc[i] += value or 0
    return sorted(((k, *v) for k, v in totals.items()), key=lambda r: (r[0] is None, r[0] or 0))


def _heat(session: Session, cells: list[tuple[Any, ...]]) -> HeatTable:
    appeals = _SUMS.index("appeals") + 2
    counts = {(c[0], c[1]): int(c[appeals]) for c in cells if c[appeals]}
    by_category: dict[str | None, int] = {}
    by_grid: dict[int | None, int] = {}
    for (c, g), n in counts.items():
        by_category[c] = by_category.get(c, 0) + n
        by_grid[g] = by_grid.get(g, 0) + n
    labels = kpi.unit_labels(session, "grid", list(by_grid))
    categories = sorted(by_category, key=lambda c: (-by_category[c], c or ""))
    grids = sorted(by_grid, key=lambda g: (g is None, labels.get(g, "") if g is not None else "", g or 0))
    return HeatTable(
        categories=[(c, label_of(c) if c else UNCATEGORISED) for c in categories],
        grids=[(g, labels.get(g, f"#{g}") if g is not None else kpi.UNASSIGNED_LABEL) for g in grids],
        cells=counts,
        peak=max(counts.values(), default=0),
    )


_EMPTY = kpi.KpiRow("all", "all", "合计", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0)


def kpi_total(session: Session, filters: Filters) -> kpi.KpiRow:
    """All appeals of the filters as one row (zeros when there were none)."""
    rows = _to_rows(session, "all", _regroup(_cells(session, filters), None))
    return rows[0] if rows else _EMPTY


def hotspots(session: Session, filters: Filters) -> HeatTable:
    """Appeals (consultations excluded) per category × grid of their last dispatch, over the filters."""
    return _heat(session, _cells(session, filters))


@dataclass(frozen=True)
class Overview:
    """What the dashboard's first part shows: the rows of one grouping, the total, the hotspots."""

    rows: list[kpi.KpiRow]
    total: kpi.KpiRow
    heat: HeatTable


def overview(session: Session, filters: Filters, group_by: Grouping) -> Overview:
    """Rows, total and hotspots from one category × grid GROUP BY (and one more for the other groupings)."""
    cells = _cells(session, filters)
    totals = _to_rows(session, "all", _regroup(cells, None))
    if group_by in ("grid", "category"):
        rows = _to_rows(session, group_by, _regroup(cells, 1 if group_by == "grid" else 0))
    else:
        rows = kpi_rows(session, filters, group_by)
    return Overview(rows=rows, total=totals[0] if totals else _EMPTY, heat=_heat(session, cells))


def week_starts(last_day_end: datetime, weeks: int = TREND_WEEKS) -> list[datetime]:
    """The local Mondays 00:00 (as UTC) of the `weeks` weeks ending with the one containing `last_day_end`'s eve."""
    local = (last_day_end - timedelta(microseconds=1)).astimezone(clock.LOCAL_TZ)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return [(monday - timedelta(weeks=weeks - 1 - i)).astimezone(UTC) for i in range(weeks)]


def _weekly(session: Session, column: Any, value: Any, edges: list[float], where: list[Any]) -> list[int]:
    """Sum `value` per week of `column` (seconds): one indexed range scan grouped by week number."""
    offset = (column - edges[0]) / WEEK_SECONDS
    # Offsets are never negative here, so SQLite's truncating CAST is the floor PostgreSQL computes.
    pg = session.get_bind().dialect.name == "postgresql"
    week = func.floor(offset) if pg else cast(offset, Integer)
    stmt = (
        select(week, func.sum(value))
        .where(*where, column >= edges[0], column < edges[-1])
        .group_by(literal_column("1"))  # by position: the expression's bound values are not repeated
    )
    counts = [0] * (len(edges) - 1)
    for index, total in session.execute(stmt):
        counts[int(index)] += int(total or 0)
    return counts


def weekly_trend(session: Session, filters: Filters, *, weeks: int = TREND_WEEKS) -> Trend:
    """Received, closed and overdue (deadline passed unmet) per week, the weeks ending with `filters.end`."""
    starts = week_starts(filters.end, weeks)
    edges = [_epoch(s) for s in starts] + [_epoch(starts[-1] + timedelta(weeks=1))]
    where = _where(filters, dated=False)
    received = _weekly(session, KpiFact.created_s, KpiFact.appeals + KpiFact.consultations, edges, where)
    closed = _weekly(session, KpiFact.closed_s, KpiFact.closed, edges, where)
    # A deadline still ahead is not overdue yet: the last week is cut at now.
    now = _epoch(clock.now())
    overdue = _weekly(session, KpiFact.overdue_s, 1, edges, [*where, KpiFact.overdue_s <= now])
    return Trend(weeks=[Week(s, r, c, o) for s, r, c, o in zip(starts, received, closed, overdue, strict=True)])


def enough(n: int) -> bool:
    """Whether a rate's sample is large enough to be shown as a figure (else 样本不足)."""
    return n >= MIN_SAMPLE
