"""KPIs, weekly reports and the red/black list for staff (/console/api), and public anonymised KPIs (/api/v1).

Staff endpoints authenticate with the console bearer token (console.auth) and scope by role: community-level
roles see every unit of their community; a grid, department or property-company member sees only their own
unit's row. The public endpoint returns aggregates only (unit names and counts; never a resident, a room or a
staff name).
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from flask import Response, current_app, send_file
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from console.auth import STAFF_BEARER, current_staff
from infra import clock
from infra.http import ApiError
from infra.web import db_session, get_redis
from miniapp_api.schemas import ErrorBody as ErrorOut
from models.reports import Report
from models.staff import Staff
from services.appeals import kpi
from services.appeals import property_ranking as ranking
from services.errors import Forbidden, NotFound
from services.reporting import weekly as reports

bp = APIBlueprint(
    "console_reports",
    __name__,
    url_prefix="/console/api",
    abp_tags=[Tag(name="console-kpi", description="appeal KPIs, weekly reports and the red/black list")],
    abp_security=STAFF_BEARER,
)
public_bp = APIBlueprint(
    "public_kpi",
    __name__,
    url_prefix="/api/v1/public",
    abp_tags=[Tag(name="public", description="anonymised aggregate KPIs, no login")],
)

# Roles that oversee the whole community; every other role is scoped to its own unit.
COMMUNITY_ROLES = ("community_staff", "community_secretary", "street_officer", "admin")
REPORT_ROLES = (*COMMUNITY_ROLES, "grid_leader")
UNIT_OF_ROLE = {
    "grid_worker": ("grid", "grid_id"),
    "grid_leader": ("grid", "grid_id"),
    "department_staff": ("department", "department_id"),
    "property_staff": ("property_company", "property_company_id"),
}
MAX_DAYS = 400
# The public endpoint needs no login, so its answer is cached: one KPI query per grouping per 10 minutes at
# most, however often it is called (a full table over 100,000 appeals takes about a second).
PUBLIC_CACHE_SECONDS = 600
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ---------------------------------------------------------------- schemas


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class KpiQuery(BaseModel):
    """KPI table filters: grouping and a local-date window (both days included)."""

    group_by: Literal["grid", "department", "property_company", "month", "all"] = "grid"
    start: date | None = Field(default=None, description="first day (Asia/Shanghai); default: 1st of this month")
    end: date | None = Field(default=None, description="last day, included; default: today")


class KpiRowOut(BaseModel):
    """One unit's KPIs; every rate has its denominator (sample size) next to it, null when that is 0."""

    key: int | str | None
    label: str
    appeals: int
    consultations: int
    dispatched: int
    accepted_on_time: int
    response_rate: float | None
    closed: int
    completion_rate: float | None
    closed_resolved: int
    resolution_rate: float | None
    resolved: int
    resolved_on_time: int
    on_time_rate: float | None
    rated: int
    satisfied: int
    satisfaction_rate: float | None
    resolve_samples: int
    avg_hours_to_resolve: float | None
    returns: int
    reopens: int


class KpiTableOut(BaseModel):
    """The KPI table with its window, its method and the community-wide total."""

    group_by: str
    start: date
    end: date
    method: str
    rows: list[KpiRowOut]
    total: KpiRowOut


class ReportOut(BaseModel):
    """A generated weekly report."""

    id: int
    kind: str
    period_key: str
    period_start: datetime
    period_end: datetime
    appeal_count: int
    size_bytes: int
    sha256: str
    download_url: str


class ReportList(BaseModel):
    """Reports, newest first."""

    items: list[ReportOut]


class ReportPath(BaseModel):
    """A report by id."""

    report_id: int = Field(ge=1, le=2_147_483_647)  # a database id; larger values cannot exist


class RankingQuery(BaseModel):
    """Which month's red/black list (YYYY-MM); default the newest."""

    period: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$")


class RankingEntryOut(BaseModel):
    """A company's place in the list."""

    property_company_id: int
    name: str
    rated: int
    satisfied: int
    raw_rate: float | None
    score: float
    rank: int | None
    list: str
    list_label: str


class RankingChangeOut(BaseModel):
    """A change of rank or list against the previous month."""

    property_company_id: int
    from_rank: int | None
    to_rank: int | None
    from_list: str | None
    to_list: str


class RankingOut(BaseModel):
    """A red/black list snapshot with its visible method."""

    period: str
    window_start: str
    window_end: str
    prior_mean: float
    prior_weight: float
    min_ratings: int
    method: str
    entries: list[RankingEntryOut]
    changes: list[RankingChangeOut]


class PublicKpiQuery(BaseModel):
    """Public KPIs: grouping and how many local months back (this month included)."""

    group_by: Literal["month", "grid", "department", "all"] = "month"
    months: int = Field(default=6, ge=1, le=24)


class PublicKpiRow(BaseModel):
    """Aggregate counts and rates of one unit or month (no personal data)."""

    label: str
    appeals: int
    consultations: int
    dispatched: int
    response_rate: float | None
    closed: int
    completion_rate: float | None
    resolution_rate: float | None
    on_time_rate: float | None
    rated: int
    satisfaction_rate: float | None
    avg_hours_to_resolve: float | None
    returns: int


class PublicKpiOut(BaseModel):
    """The public KPI table."""

    group_by: str
    start: date
    end: date
    method: str
    rows: list[PublicKpiRow]


# ---------------------------------------------------------------- helpers


def local_midnight(day: date) -> datetime:
    """The UTC instant a Beijing day starts."""
    return datetime.combine(day, time(0), tzinfo=clock.LOCAL_TZ).astimezone(UTC)


def kpi_window(start: date | None, end: date | None) -> tuple[date, date]:
    """The KPI period asked for, this month so far by default."""
    today = clock.local_now().date()
    first = start or today.replace(day=1)
    last = end or today
    if last < first:
        raise ApiError(400, "bad_window", "结束日期不能早于开始日期")
    if (last - first).days > MAX_DAYS:
        raise ApiError(400, "bad_window", f"时间范围最多 {MAX_DAYS} 天")
    return first, last


def _row_out(row: kpi.KpiRow) -> dict[str, Any]:
    return KpiRowOut.model_validate(row.as_dict()).model_dump(mode="json")


def kpi_scope(staff: Staff, group_by: str) -> int | None:
    """The unit id a scoped role may see for this grouping (None = all), or Forbidden."""
    if staff.role in COMMUNITY_ROLES or group_by in ("month", "all"):
        return None
    kind, attribute = UNIT_OF_ROLE.get(staff.role, (None, None))
    if kind != group_by or attribute is None or getattr(staff, attribute) is None:
        raise Forbidden(f"您的角色只能查看本单位的指标（group_by={kind or 'month'}）")
    return int(getattr(staff, attribute))


def report_visible(staff: Staff, report: Report) -> bool:
    """Whether this staff member may read this weekly report."""
    if staff.role not in REPORT_ROLES:
        return False
    return staff.role in ("street_officer", "admin") or staff.community_id == report.community_id


def _report_out(report: Report) -> dict[str, Any]:
    data = {name: getattr(report, name) for name in ReportOut.model_fields if hasattr(report, name)}
    data["download_url"] = f"/console/api/reports/{report.id}"
    return ReportOut.model_validate(data).model_dump(mode="json")


# ---------------------------------------------------------------- staff routes


@bp.get("/kpi", responses={200: KpiTableOut, **ERRORS})
def kpi_table(query: KpiQuery) -> dict[str, Any]:
    """KPI table by grid, department, property company or month, computed from the appeal events."""
    staff = current_staff()
    unit = kpi_scope(staff, query.group_by)
    first, last = kpi_window(query.start, query.end)
    session = db_session()
    window = {
        "start": local_midnight(first),
        "end": local_midnight(last + timedelta(days=1)),
        "community_id": staff.community_id,
    }
    rows = kpi.kpi_table(session, group_by=query.group_by, **window)
    if unit is not None:
        rows = [r for r in rows if r.key == unit]
    total = kpi.kpi_summary(session, **window)
    session.commit()  # records the token's last use; ends the read transaction
    return {
        "group_by": query.group_by,
        "start": first.isoformat(),
        "end": last.isoformat(),
        "method": kpi.METHOD,
        "rows": [_row_out(r) for r in rows],
        "total": _row_out(total),
    }


@bp.get("/reports", responses={200: ReportList, **ERRORS})
def list_reports() -> dict[str, Any]:
    """Weekly reports of my community, newest first."""
    staff = current_staff()
    if staff.role not in REPORT_ROLES:
        raise Forbidden("周报仅供社区工作人员和网格长查看")
    session = db_session()
    everywhere = staff.role in ("street_officer", "admin")
    found = reports.list_reports(session, community_id=None if everywhere else staff.community_id)
    items = [_report_out(r) for r in found if report_visible(staff, r)]
    session.commit()
    return {"items": items}


@bp.get("/reports/<int:report_id>", responses={**ERRORS})
def download_report(path: ReportPath) -> Response:
    """Download a weekly report (XLSX)."""
    staff = current_staff()
    session = db_session()
    report = session.get(Report, path.report_id)
    if report is None or not report_visible(staff, report):
        raise NotFound("没有您可查看的这份报告")
    file = reports.reports_path(Path(current_app.config["INSTANCE_PATH"]) / "reports", report)
    session.commit()
    if not file.exists():
        raise NotFound("报告文件缺失，下次周报任务会重新生成")
    return send_file(file, mimetype=XLSX, as_attachment=True, download_name=report.filename, max_age=0)


@bp.get("/rankings/property-companies", responses={200: RankingOut, **ERRORS})
def property_company_ranking(query: RankingQuery) -> dict[str, Any]:
    """The property companies' red/black list (newest month, or `period`), with its method and changes."""
    current_staff()
    session = db_session()
    body = ranking.snapshot_view(session, ranking.latest_snapshot(session, query.period))
    session.commit()
    return body


# ---------------------------------------------------------------- public route


@public_bp.get("/kpi", responses={200: PublicKpiOut, 422: ErrorOut})
def public_kpi(query: PublicKpiQuery) -> dict[str, Any]:
    """Anonymised KPIs for the public dashboard: counts and rates per month, grid or department."""
    today = clock.local_now().date()
    cache_key = f"hongguan:public-kpi:{query.group_by}:{query.months}:{today.isoformat()}"
    try:
        cached = get_redis().get(cache_key)
    except RedisError:
        cached = None  # Redis down: answer from the database
    if cached:
        return json.loads(cached)
    month = today.replace(day=1)
    for _ in range(query.months - 1):
        month = (month - timedelta(days=1)).replace(day=1)
    session = db_session()
    rows = kpi.kpi_table(
        session,
        group_by=query.group_by,
        start=local_midnight(month),
        end=local_midnight(today + timedelta(days=1)),
    )
    session.rollback()
    fields = PublicKpiRow.model_fields
    out = [PublicKpiRow.model_validate({k: v for k, v in r.as_dict().items() if k in fields}) for r in rows]
    body = {
        "group_by": query.group_by,
        "start": month.isoformat(),
        "end": today.isoformat(),
        "method": kpi.METHOD,
        "rows": [r.model_dump(mode="json") for r in out],
    }
    with contextlib.suppress(RedisError):  # no cache while Redis is down; the answer is still right
        get_redis().set(cache_key, json.dumps(body, ensure_ascii=False), ex=PUBLIC_CACHE_SECONDS)
    return body
