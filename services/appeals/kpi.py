"""Appeal KPIs (三率 and friends) recomputed from the append-only `appeal_event` log, aggregated in SQL.

Definitions (the method text shown with every table is `METHOD`):

* Cohort: appeals whose `create` event falls in [start, end); events are read up to `as_of` (default:
  all). Consultations (`create.payload.kind == "consultation"`) are counted apart and excluded from every
  rate.
* The log of each appeal is cut into *dispatch segments*: segment n starts at its n-th `dispatch` event and
  runs to the next one. The unit named in a dispatch payload (grid_id / department_id / property_company_id,
  see the event contract) owns that segment.
* Per dispatch (attributed to the segment's unit): response = the segment's first `accept` at or before the
  payload's `accept_due_at`; returns (退单) and reopens count in the segment where they happen (a reopen
  keeps the appeal with its unit: only `dispatch` events open segments and count as dispatches).
* Per appeal (attributed to the unit of the appeal's *last* dispatch, the unit that owns it at closure):
  completion = currently closed (last `close` after the last `reopen`) ÷ appeals; resolution = closed with
  closure code `resolved` ÷ closed; on-time = first `resolve` at or before the `due_at` of its segment ÷
  resolved appeals with a deadline; satisfaction = (satisfied + basically_satisfied) ÷ rated, using the last
  `rate` event; time to resolve = first `dispatch` → first `resolve` in hours (a return does not restart
  the clock: it starts at dispatch).
* Grouping by grid uses the dispatch payload's `grid_id` (territorial: every appeal in the grid, whoever
  handles it); by department / property company only segments whose handler_type is that kind; by month the
  local (Asia/Shanghai) month of the `create` event.

Everything is one SQL statement (two window passes and GROUP BYs); timings for 100,000 appeals are in
docs/benchmarks.md, "Appeal KPIs".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from models.base import UTCDateTime
from models.org import Department, Grid, PropertyCompany

GroupBy = Literal["grid", "department", "property_company", "month", "all"]
GROUPINGS: tuple[str, ...] = ("grid", "department", "property_company", "month", "all")
SATISFIED_RATINGS = ("satisfied", "basically_satisfied")
UNASSIGNED_LABEL = "未派单"
# The events the KPIs read; everything else in the log (notes, reminders, chases …) is ignored here.
KPI_ACTIONS = ("create", "dispatch", "accept", "return", "resolve", "close", "reopen", "rate")
RATE_NAMES = ("response_rate", "completion_rate", "resolution_rate", "on_time_rate", "satisfaction_rate")

METHOD = (
    "口径：以受理（create 事件）时间落在统计区间内的诉求为样本，全部指标由诉求事件日志重算，"
    "咨询类单独计数、不计入任何比率。"
    "响应率 = 在签收时限内签收的派单数 ÷ 派单数（按每次派单的承办单位计）；"
    "办结率 = 已办结诉求 ÷ 诉求数（重新打开后未再次办结的不算）；"
    "解决率 = 以「已解决」办结的诉求 ÷ 已办结诉求；"
    "按时率 = 在办理时限内首次答复办结的诉求 ÷ 已答复且有时限的诉求；"
    "满意率 = （满意 + 基本满意）÷ 已评价诉求（以最后一次评价为准）；"
    "平均办理时长 = 首次派单至首次答复的小时数（退单不重置计时）；退单数、重新打开数按发生时的承办单位计。"
    "每项比率均给出分母（样本量）。"
)


@dataclass(frozen=True)
class KpiRow:
    """One line of the KPI table; every rate comes with the sample size it was computed on (None when 0)."""

    group_by: str
    key: int | str | None
    label: str
    appeals: int  # appeals in the cohort attributed here (consultations excluded)
    consultations: int
    dispatched: int  # dispatches (response-rate denominator)
    accepted_on_time: int
    closed: int
    closed_resolved: int
    resolved: int  # appeals with a first resolve and a deadline (on-time denominator)
    resolved_on_time: int
    rated: int
    satisfied: int  # satisfied + basically_satisfied
    resolve_samples: int  # appeals with both a dispatch and a resolve
    avg_hours_to_resolve: float | None
    returns: int
    reopens: int

    @property
    def response_rate(self) -> float | None:
        """Accepted on time ÷ dispatched."""
        return _rate(self.accepted_on_time, self.dispatched)

    @property
    def completion_rate(self) -> float | None:
        """Closed ÷ appeals (consultations excluded)."""
        return _rate(self.closed, self.appeals)

    @property
    def resolution_rate(self) -> float | None:
        """Closed as resolved ÷ closed."""
        return _rate(self.closed_resolved, self.closed)

    @property
    def on_time_rate(self) -> float | None:
        """Resolved before the deadline ÷ resolved."""
        return _rate(self.resolved_on_time, self.resolved)

    @property
    def satisfaction_rate(self) -> float | None:
        """(Satisfied + basically satisfied) ÷ rated."""
        return _rate(self.satisfied, self.rated)

    def as_dict(self) -> dict[str, Any]:
        """Counts, rates and sample sizes as a JSON-ready dict."""
        data = asdict(self)
        for name in RATE_NAMES:
            data[name] = getattr(self, name)
        return data


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


class Dialect:
    """The few SQL snippets that differ between SQLite and PostgreSQL.

    On PostgreSQL timestamps stay timestamptz and a dispatch payload is cast to jsonb once; on SQLite times
    become seconds since 1970 (julianday) and JSON is read with json_extract.
    """

    def __init__(self, name: str, tz: str, start: datetime) -> None:
        self.pg = name == "postgresql"
        offset = ZoneInfo(tz).utcoffset(start.replace(tzinfo=None))
        # SQLite has no named zones; the offset at `start` is exact for Asia/Shanghai (no DST since 1991).
        self.offset_minutes = int(offset.total_seconds() // 60) if offset is not None else 0

    def ts(self, column: str) -> str:
        """A timestamp column in a comparable, subtractable form."""
        return column if self.pg else f"((julianday({column}) - 2440587.5) * 86400.0)"

    def hours(self, later: str, earlier: str) -> str:
        """Hours between two values made by ts()/json_ts()."""
        if self.pg:
            return f"(date_part('epoch', {later} - {earlier}) / 3600.0)"
        return f"(({later} - {earlier}) / 3600.0)"

    def doc(self, column: str) -> str:
        """The payload as the document type the accessors below read (jsonb on PostgreSQL: parsed once)."""
        return f"CAST({column} AS JSONB)" if self.pg else column

    def json_text(self, doc: str, key: str) -> str:
        """A payload field as text (SQL NULL when absent or JSON null)."""
        return f"({doc} ->> '{key}')" if self.pg else f"json_extract({doc}, '$.{key}')"

    def json_int(self, doc: str, key: str) -> str:
        """A payload field as an integer id."""
        return f"CAST({self.json_text(doc, key)} AS INTEGER)"

    def json_ts(self, doc: str, key: str) -> str:
        """A payload ISO-8601 timestamp (UTC, e.g. due_at), comparable with ts()."""
        if self.pg:
            return f"CAST({doc} ->> '{key}' AS TIMESTAMPTZ)"
        return f"((julianday(json_extract({doc}, '$.{key}')) - 2440587.5) * 86400.0)"

    def local_month(self, column: str) -> str:
        """The month of a timestamp in the community's time zone as an integer YYYYMM (narrow to carry)."""
        if self.pg:
            return f"CAST(to_char({column} AT TIME ZONE :tz, 'YYYYMM') AS INTEGER)"
        return f"CAST(strftime('%Y%m', {column}, '{self.offset_minutes:+d} minutes') AS INTEGER)"

    def epoch(self, value: str) -> str:
        """A value made by ts()/json_ts() as seconds since 1970 (a plain number on both databases)."""
        return f"date_part('epoch', {value})" if self.pg else value

    @property
    def fence(self) -> str:
        # Keeps PostgreSQL from inlining the subquery, which would repeat the jsonb cast for every accessor.
        return "OFFSET 0" if self.pg else ""


def _dispatch_key(d: Dialect, group_by: str) -> str:
    """The grouping key a dispatch payload names (NULL when the dispatch is not to that kind of unit)."""
    if group_by == "grid":
        return d.json_int("b.doc", "grid_id")
    if group_by in ("department", "property_company"):
        # A dispatch without handler_type still counts for the unit whose id it names.
        handler = d.json_text("b.doc", "handler_type")
        unit_id = d.json_int("b.doc", f"{group_by}_id")
        return f"CASE WHEN COALESCE({handler}, '{group_by}') = '{group_by}' THEN {unit_id} END"
    return "NULL"


# Over the `w` stage: the appeal's own row (its last segment), and "closed now" (last close after the last reopen).
NOT_CONSULT_LAST = "w.is_consult = 0 AND w.seg = w.last_seg"
CLOSED_NOW = f"{NOT_CONSULT_LAST} AND w.last_close_c / 8 > COALESCE(w.last_reopen_id, 0)"


def measures(d: Dialect) -> tuple[tuple[str, str], ...]:
    """Each KPI count as a per-row expression over the `w` stage (one row per appeal and dispatch segment).

    The KPI statement sums them per group; the dashboards' summary table (services.appeals.analytics)
    stores them per row, so both read the same definitions.
    """
    not_consult_last, closed = NOT_CONSULT_LAST, CLOSED_NOW
    resolved = f"{not_consult_last} AND w.first_resolve_t IS NOT NULL"
    return (
        ("appeals", f"CASE WHEN {not_consult_last} THEN 1 ELSE 0 END"),
        ("consultations", "CASE WHEN w.is_consult = 1 AND w.seg = w.last_seg THEN 1 ELSE 0 END"),
        ("dispatched", "CASE WHEN w.is_consult = 0 AND w.seg > 0 THEN 1 ELSE 0 END"),
        (
            "accepted_on_time",
            "CASE WHEN w.is_consult = 0 AND w.seg > 0 AND w.accept_t IS NOT NULL"
            " AND (w.accept_due_t IS NULL OR w.accept_t <= w.accept_due_t) THEN 1 ELSE 0 END",
        ),
        ("closed", f"CASE WHEN {closed} THEN 1 ELSE 0 END"),
        ("closed_resolved", f"CASE WHEN {closed} AND w.last_close_c % 8 = 1 THEN 1 ELSE 0 END"),
        ("resolved", f"CASE WHEN {not_consult_last} AND w.resolve_c % 4 < 2 THEN 1 ELSE 0 END"),
        ("resolved_on_time", f"CASE WHEN {not_consult_last} AND w.resolve_c % 4 = 0 THEN 1 ELSE 0 END"),
        ("rated", f"CASE WHEN {not_consult_last} AND w.last_rate_c % 4 > 0 THEN 1 ELSE 0 END"),
        ("satisfied", f"CASE WHEN {not_consult_last} AND w.last_rate_c % 4 = 2 THEN 1 ELSE 0 END"),
        ("resolve_samples", f"CASE WHEN {resolved} THEN 1 ELSE 0 END"),
        (
            "hours_to_resolve",
            f"CASE WHEN {resolved} THEN {d.hours('w.first_resolve_t', 'w.first_dispatch_t')} ELSE 0 END",
        ),
        ("returns", "CASE WHEN w.is_consult = 0 THEN w.returns ELSE 0 END"),
        ("reopens", "CASE WHEN w.is_consult = 0 THEN w.reopens ELSE 0 END"),
    )


MEASURES: tuple[str, ...] = tuple(name for name, _ in measures(Dialect("sqlite", "UTC", datetime(2000, 1, 1))))
# Rows before an appeal's first dispatch carry nothing unless they are all the appeal has.
ROW_FILTER = "(w.seg > 0 OR w.seg = w.last_seg)"


def stages(
    d: Dialect,
    keys: dict[str, str],
    *,
    cohort_filter: str,
    with_month: bool,
    with_as_of: bool = False,
    extra: bool = False,
) -> str:
    """The stages shared by the KPI statement and the dashboards' summary (see _build_sql).

    `keys` maps a segment key column to its expression over a dispatch event (`b.doc` is its payload);
    `extra` also carries the times the dashboards' weekly trend needs (last close, current deadline).
    """
    as_of = "AND e.created_at <= :as_of" if with_as_of else ""
    satisfied = ", ".join(f"'{r}'" for r in SATISFIED_RATINGS)
    rating = "b.rating"
    actions = ", ".join(f"'{a}'" for a in KPI_ACTIONS)
    ev_keys = "".join(f"CASE WHEN b.action = 'dispatch' THEN {expr} END AS {name},\n" for name, expr in keys.items())
    seg_keys = "".join(f"MAX(CASE WHEN action = 'dispatch' THEN {name} END) AS {name},\n" for name in keys)
    ev_extra = seg_extra = w_extra = ""
    if extra:
        ev_extra = f"CASE WHEN b.action = 'close' THEN {d.ts('b.created_at')} END AS close_t,"
        seg_extra = "MAX(close_t) AS close_t,"
        w_extra = "MAX(close_t) OVER a AS last_close_t,"
    return f"""
WITH cohort AS (
    SELECT e.appeal_id,
           MIN({d.local_month("e.created_at") if with_month else "NULL"}) AS month,
           MIN({d.ts("e.created_at") if extra else "NULL"}) AS created_t,
           MAX(CASE WHEN {d.json_text("e.payload", "kind")} = 'consultation' THEN 1 ELSE 0 END) AS is_consult
    FROM appeal_event e
    WHERE e.action = 'create' {cohort_filter}
    GROUP BY e.appeal_id
),
ev AS (
    SELECT b.appeal_id, b.id, b.action, b.month, b.is_consult,
           SUM(CASE WHEN b.action = 'dispatch' THEN 1 ELSE 0 END)
               OVER (PARTITION BY b.appeal_id ORDER BY b.id ROWS UNBOUNDED PRECEDING) AS seg,
           {d.ts("b.created_at")} AS t,
           {ev_keys}
           {ev_extra}
           CASE WHEN b.action = 'dispatch' THEN {d.json_ts("b.doc", "accept_due_at")} END AS accept_due_t,
           CASE WHEN b.action = 'dispatch' THEN {d.json_ts("b.doc", "due_at")} END AS due_t,
           CASE WHEN b.action = 'close'
                THEN CAST(b.id AS BIGINT) * 8 + CASE WHEN b.reason_code = 'resolved' THEN 1 ELSE 0 END
           END AS close_c,
           CASE WHEN b.action = 'rate'
                THEN CAST(b.id AS BIGINT) * 4
                     + CASE WHEN {rating} IN ({satisfied}) THEN 2 WHEN {rating} IS NOT NULL THEN 1 ELSE 0 END
           END AS rate_c
    FROM (
        SELECT e.appeal_id, e.id, e.action, e.created_at, e.reason_code, c.month, c.is_consult,
               CASE WHEN e.action = 'dispatch' THEN {d.doc("e.payload")} END AS doc,
               CASE WHEN e.action = 'rate' THEN {d.json_text("e.payload", "rating")} END AS rating
        FROM appeal_event e
        JOIN cohort c ON c.appeal_id = e.appeal_id
        WHERE e.action IN ({actions}) {as_of}
        {d.fence}
    ) b
),
seg AS (
    SELECT appeal_id, seg,
           {seg_keys}
           {seg_extra}
           MAX(month) AS month,
           MAX(is_consult) AS is_consult,
           MAX(CASE WHEN action = 'dispatch' THEN t END) AS dispatch_t,
           MAX(accept_due_t) AS accept_due_t,
           MAX(due_t) AS due_t,
           MIN(CASE WHEN action = 'accept' THEN t END) AS accept_t,
           MIN(CASE WHEN action = 'resolve' THEN t END) AS resolve_t,
           SUM(CASE WHEN action = 'return' THEN 1 ELSE 0 END) AS returns,
           SUM(CASE WHEN action = 'reopen' THEN 1 ELSE 0 END) AS reopens,
           MAX(CASE WHEN action = 'reopen' THEN id END) AS reopen_id,
           MAX(close_c) AS close_c,
           MAX(rate_c) AS rate_c
    FROM ev
    GROUP BY appeal_id, seg
),
w AS (
    SELECT s.*,
           {w_extra}
           MAX(seg) OVER a AS last_seg,
           MIN(dispatch_t) OVER a AS first_dispatch_t,
           MIN(CASE WHEN seg > 0 THEN resolve_t END) OVER a AS first_resolve_t,
           MIN(CASE WHEN seg > 0 AND resolve_t IS NOT NULL
                    THEN seg * 4 + CASE WHEN due_t IS NULL THEN 2 WHEN resolve_t <= due_t THEN 0 ELSE 1 END
               END) OVER a AS resolve_c,
           MAX(close_c) OVER a AS last_close_c,
           MAX(reopen_id) OVER a AS last_reopen_id,
           MAX(rate_c) OVER a AS last_rate_c
    FROM seg s
    WINDOW a AS (PARTITION BY appeal_id)
)"""  # noqa: S608 - only the fixed snippets above are formatted in; every value is a bound parameter


def dispatch_keys(d: Dialect) -> dict[str, str]:
    """The three unit keys of a dispatch (territorial grid, department, property company) as stage keys."""
    return {f"k_{kind}": _dispatch_key(d, kind) for kind in ("grid", "department", "property_company")}


def _build_sql(d: Dialect, group_by: str, *, with_as_of: bool, with_community: bool) -> str:
    """The single KPI statement (see the module docstring for the definitions it implements).

    Stages: `cohort` (create events in the window) → `ev` (relevant events, each tagged with its dispatch
    segment by a running count of dispatches) → `seg` (one row per appeal and segment) → `w` (appeal-wide
    values by a window over the segments) → one GROUP BY. Composite integers carry "the value of the
    latest event" through MAX(): id * 8 + flag for the last close (1 = closed as resolved), id * 4 + code for
    the last rating (2 = satisfied or basically satisfied, 1 = unsatisfied), seg * 4 + state for the first
    resolve (0 = on time, 1 = late, 2 = no deadline). Only literals and fixed snippets are formatted into the
    SQL; every value is a bound parameter.
    """
    cohort_filter = "AND e.created_at >= :start AND e.created_at < :end"
    if with_community:
        cohort_filter += " AND e.appeal_id IN (SELECT id FROM appeal WHERE community_id = :community_id)"
    if group_by == "month":
        keys: dict[str, str] = {}
        key = "w.month"
    elif group_by == "all":
        keys, key = {}, "'all'"  # one group: no GROUP BY, and HAVING keeps an empty cohort empty
    else:
        keys, key = {"k": _dispatch_key(d, group_by)}, "w.k"
    cte = stages(d, keys, cohort_filter=cohort_filter, with_month=group_by == "month", with_as_of=with_as_of)
    key_filter = f"WHERE {ROW_FILTER}"
    if group_by in ("department", "property_company"):
        key_filter += " AND w.k IS NOT NULL"
    sums = ",\n       ".join(f"SUM({expr})" for _, expr in measures(d))
    group = "HAVING COUNT(*) > 0" if group_by == "all" else f"GROUP BY {key}\nORDER BY {key}"
    return f"""{cte}
SELECT {key} AS gk,
       {sums}
FROM w
{key_filter}
{group}
"""  # noqa: S608 - only the fixed snippets above are formatted in; every value is a bound parameter


# One KPI statement sorts ~half a million narrow rows; PostgreSQL's default 4 MB work_mem sends that to
# disk, and JIT compilation costs more than it saves at this size. Both are set for this statement only.
_PG_SETTINGS = {"work_mem": "256MB", "jit": "off"}


def execute_tuned(session: Session, stmt: Any, params: dict[str, Any], *, fetch: bool = True) -> list[Any]:
    """Run the KPI statement on PostgreSQL with statement-sized memory settings, restoring them afterwards."""
    current = text("SELECT current_setting(:n)")
    previous = {name: session.execute(current, {"n": name}).scalar_one() for name in _PG_SETTINGS}
    for name, value in _PG_SETTINGS.items():
        session.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    # On an error the transaction is aborted and its SET LOCAL values end with it: restore only on success.
    result = session.execute(stmt, params)
    rows = list(result.all()) if fetch else []
    for name, value in previous.items():
        session.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    return rows


def unit_labels(session: Session, group_by: str, keys: list[Any]) -> dict[Any, str]:
    """Display names of the grouped units (one small query)."""
    model = {"grid": Grid, "department": Department, "property_company": PropertyCompany}.get(group_by)
    ids = [k for k in keys if k is not None]
    if model is None or not ids:
        return {}
    return {i: n for i, n in session.execute(select(model.id, model.name).where(model.id.in_(ids)))}


def kpi_table(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    group_by: GroupBy,
    as_of: datetime | None = None,
    community_id: int | None = None,
    tz: str = "Asia/Shanghai",
) -> list[KpiRow]:
    """KPI rows for appeals received in [start, end) per grid, department, property company, month, 'all'."""
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}, not {group_by!r}")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    if end <= start:
        raise ValueError("end must be after start")
    bind = session.get_bind()
    dialect = Dialect(bind.dialect.name, tz, start)
    sql = _build_sql(dialect, group_by, with_as_of=as_of is not None, with_community=community_id is not None)
    window = (bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime()))
    stmt = text(sql).bindparams(*window)
    params: dict[str, Any] = {"start": start, "end": end}
    if as_of is not None:
        stmt = stmt.bindparams(bindparam("as_of", type_=UTCDateTime()))
        params["as_of"] = as_of
    if community_id is not None:
        params["community_id"] = community_id
    if dialect.pg:
        params["tz"] = tz
    rows = execute_tuned(session, stmt, params) if dialect.pg else list(session.execute(stmt, params).all())
    labels = unit_labels(session, group_by, [r[0] for r in rows])
    result = []
    for r in rows:
        key = f"{int(r[0]) // 100:04d}-{int(r[0]) % 100:02d}" if group_by == "month" else r[0]
        samples = int(r[11] or 0)
        if group_by == "month" or group_by == "all":
            label = str(key)
        elif key is None:
            label = UNASSIGNED_LABEL
        else:
            label = labels.get(key, f"#{key}")
        result.append(
            KpiRow(
                group_by=group_by,
                key=key,
                label=label,
                appeals=int(r[1] or 0),
                consultations=int(r[2] or 0),
                dispatched=int(r[3] or 0),
                accepted_on_time=int(r[4] or 0),
                closed=int(r[5] or 0),
                closed_resolved=int(r[6] or 0),
                resolved=int(r[7] or 0),
                resolved_on_time=int(r[8] or 0),
                rated=int(r[9] or 0),
                satisfied=int(r[10] or 0),
                resolve_samples=samples,
                avg_hours_to_resolve=(float(r[12]) / samples) if samples else None,
                returns=int(r[13] or 0),
                reopens=int(r[14] or 0),
            )
        )
    return result


def kpi_summary(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime | None = None,
    community_id: int | None = None,
) -> KpiRow:
    """The whole cohort's KPIs as one row (key 'all'); zeros when there were no appeals."""
    rows = kpi_table(session, start=start, end=end, group_by="all", as_of=as_of, community_id=community_id)
    if rows:
        return rows[0]
    return KpiRow("all", "all", "all", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0)
