"""The weekly 民意诉求承办单 (appeal handling sheet): an XLSX per community and ISO week, pushed to its staff.

A reporting week runs from Friday 17:00 to the next Friday 17:00 (Asia/Shanghai), so the reports made by
the Friday 17:00 cron cover every appeal exactly once, whatever weekday it came; each is keyed by the ISO
week of its end.
The file lists the week's appeals (residents' names, phones and rooms masked; free text redacted), the overdue
open appeals, and the KPI summary computed from the event log (services.appeals.kpi), with the method text.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import clock, privacy
from models.appeal import Appeal, AppealEvent
from models.org import Building, Community, Department, Grid, PropertyCompany
from models.reports import Report
from models.resident import Resident
from models.staff import Staff
from nlp.taxonomy import label_of
from services.appeals import evaluation, kpi, workflow
from services.appeals.states import UNRESOLVED
from services.cobuilding import figures as cobuilding_figures
from services.errors import NotFound
from services.notifications.notify import notify_staff

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
REPORT_WEEKDAY = 4  # Friday
REPORT_TIME = time(17, 0)
# Who receives the weekly notice: the people who run the community's appeals, not every handler.
RECIPIENT_ROLES = ("community_secretary", "community_staff", "grid_leader")

# The workflow's labels, except that staff read a returned appeal by its internal name (退单).
STATUS_LABELS = {**workflow.STATUS_LABELS, "returned": "退单协调中"}

APPEAL_COLUMNS = (
    ("编号", 18),
    ("受理时间", 17),
    ("类型", 6),
    ("类别", 12),
    ("诉求摘要", 40),
    ("地址", 16),
    ("诉求人", 8),
    ("联系电话", 14),
    ("承办单位", 16),
    ("状态", 14),
    ("办理时限", 17),
    ("是否超期", 8),
    ("退单次数", 8),
    ("评价", 8),
)
KPI_COLUMNS = (
    ("单位", 16),
    ("诉求数", 8),
    ("咨询数", 8),
    ("派单数", 8),
    ("按时签收", 8),
    ("响应率", 8),
    ("办结数", 8),
    ("办结率", 8),
    ("已解决", 8),
    ("解决率", 8),
    ("已答复(有时限)", 12),
    ("按时答复", 8),
    ("按时率", 8),
    ("已评价", 8),
    ("满意+基本满意", 12),
    ("满意率", 8),
    ("平均办理时长(小时)", 16),
    ("退单数", 8),
    ("重新打开", 8),
)
GROUP_TITLES = {"grid": "按网格（属地）", "department": "按职能部门", "property_company": "按物业公司"}


@dataclass(frozen=True)
class ReportPeriod:
    """A reporting week: its ISO-week key and [start, end) in UTC."""

    key: str
    start: datetime
    end: datetime


def weekly_period(now: datetime) -> ReportPeriod:
    """The latest completed reporting week at `now`: Friday 17:00 → Friday 17:00, Asia/Shanghai."""
    local = now.astimezone(LOCAL_TZ)
    days_back = (local.weekday() - REPORT_WEEKDAY) % 7
    end_local = datetime.combine(local.date() - timedelta(days=days_back), REPORT_TIME, tzinfo=LOCAL_TZ)
    if end_local > local:
        end_local -= timedelta(days=7)
    iso = end_local.isocalendar()
    end = end_local.astimezone(UTC)
    return ReportPeriod(f"{iso.year}-W{iso.week:02d}", end - timedelta(days=7), end)


def reports_path(reports_dir: Path, report: Report) -> Path:
    """Absolute path of a report's file; refuses names that would leave the reports directory."""
    path = (reports_dir / report.filename).resolve()
    if path.parent != reports_dir.resolve():
        raise NotFound("report file is not under the reports directory")
    return path


def _local(value: datetime | None) -> str:
    return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _mask_name(name: str | None) -> str:
    """Keep the surname only (王*), as paper 承办单 do."""
    return f"{name[0]}{'*' * max(1, len(name) - 1)}" if name else ""


def _pct(value: float | None) -> str:
    return f"{value * 100:.1f}%" if value is not None else "—"


class _Units:
    """Names of grids, departments and property companies, loaded once."""

    def __init__(self, session: Session) -> None:
        self.grids = {i: n for i, n in session.execute(select(Grid.id, Grid.name))}
        self.departments = {i: n for i, n in session.execute(select(Department.id, Department.name))}
        self.companies = {i: n for i, n in session.execute(select(PropertyCompany.id, PropertyCompany.name))}

    def handler(self, appeal: Appeal) -> str:
        """The unit currently handling the appeal (the grid when no other unit is named)."""
        if appeal.handler_type == "department" and appeal.department_id:
            return self.departments.get(appeal.department_id, "")
        if appeal.handler_type == "property_company" and appeal.property_company_id:
            return self.companies.get(appeal.property_company_id, "")
        if appeal.grid_id:
            return self.grids.get(appeal.grid_id, "")
        return "待分派"


def _appeal_row(appeal: Appeal, resident: Resident | None, building: str | None, units: _Units, at: datetime) -> list:
    """One line of the handling sheet, with personal data masked (PIPL Art. 51)."""
    due = appeal.due_at
    finished = appeal.resolved_at or appeal.closed_at
    overdue = appeal.overdue or (due is not None and ((finished or at) > due))
    status = STATUS_LABELS.get(appeal.status, appeal.status)
    if appeal.status == "closed" and appeal.closure_code:
        status = f"{status}（{workflow.CLOSURE_LABELS.get(appeal.closure_code, appeal.closure_code)}）"
    text = privacy.redact_text(appeal.text or "")
    room = resident.room if resident is not None else None
    return [
        appeal.number or f"#{appeal.id}",
        _local(appeal.created_at),
        "咨询" if appeal.kind == "consultation" else "诉求",
        label_of(appeal.category) if appeal.category else "",
        text if len(text) <= 60 else text[:59] + "…",
        privacy.mask_address(building, room) if building or room else "",
        _mask_name(resident.name if resident is not None else None),
        privacy.mask_phone(resident.phone if resident is not None else None),
        units.handler(appeal),
        status,
        _local(due),
        "是" if overdue else "否",
        appeal.return_count,
        evaluation.RATING_LABELS.get(appeal.rating or "", ""),
    ]


def _appeals_in_week(session: Session, community_id: int, period: ReportPeriod) -> list[Any]:
    """Appeals whose create event falls in the week (the same cohort as the KPIs), oldest first."""
    created = (
        select(AppealEvent.appeal_id)
        .where(AppealEvent.action == "create")
        .where(AppealEvent.created_at >= period.start, AppealEvent.created_at < period.end)
    )
    stmt = (
        select(Appeal, Resident, Building.name)
        .outerjoin(Resident, Resident.id == Appeal.resident_id)
        .outerjoin(Building, Building.id == Appeal.building_id)
        .where(Appeal.community_id == community_id, Appeal.id.in_(created))
        .order_by(Appeal.created_at, Appeal.id)
    )
    return list(session.execute(stmt).all())


def _overdue_open(session: Session, community_id: int, at: datetime) -> list[Any]:
    """Open appeals of the community past their deadline at `at`, whenever they arrived."""
    stmt = (
        select(Appeal, Resident, Building.name)
        .outerjoin(Resident, Resident.id == Appeal.resident_id)
        .outerjoin(Building, Building.id == Appeal.building_id)
        .where(Appeal.community_id == community_id, Appeal.status.in_(UNRESOLVED))
        .where(Appeal.due_at.is_not(None), Appeal.due_at < at)
        .order_by(Appeal.due_at, Appeal.id)
    )
    return list(session.execute(stmt).all())


def _sheet(wb: Workbook, title: str, columns: tuple[tuple[str, int], ...], heading: str) -> Any:
    ws = wb.create_sheet(title)
    ws.append([heading])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([name for name, _ in columns])
    for i, (_, width) in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
        cell = ws.cell(row=2, column=i)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="F2DCDB")
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
    ws.freeze_panes = "A3"
    return ws


def _kpi_line(label: str, row: kpi.KpiRow) -> list[Any]:
    return [
        label, row.appeals, row.consultations, row.dispatched, row.accepted_on_time, _pct(row.response_rate),
        row.closed, _pct(row.completion_rate), row.closed_resolved, _pct(row.resolution_rate), row.resolved,
        row.resolved_on_time, _pct(row.on_time_rate), row.rated, row.satisfied, _pct(row.satisfaction_rate),
        round(row.avg_hours_to_resolve, 1) if row.avg_hours_to_resolve is not None else "—", row.returns,
        row.reopens,
    ]  # fmt: skip


def build_workbook(session: Session, community: Community, period: ReportPeriod) -> tuple[bytes, dict[str, int]]:
    """The XLSX bytes of one community's weekly report, and its headline counts."""
    units = _Units(session)
    wb = Workbook()
    wb.remove(wb.active)
    span = f"{_local(period.start)} 至 {_local(period.end)}"

    ws = _sheet(wb, "承办单", APPEAL_COLUMNS, f"{community.name} 民意诉求承办单（{period.key}，{span}）")
    week = _appeals_in_week(session, community.id, period)
    for appeal, resident, building in week:
        ws.append(_appeal_row(appeal, resident, building, units, period.end))
    overdue_rows = _overdue_open(session, community.id, period.end)
    ws2 = _sheet(wb, "超期未办结", APPEAL_COLUMNS, f"截至 {_local(period.end)} 超过办理时限仍未办结的诉求")
    for appeal, resident, building in overdue_rows:
        ws2.append(_appeal_row(appeal, resident, building, units, period.end))

    ws3 = _sheet(wb, "指标汇总", KPI_COLUMNS, f"本周受理诉求的办理指标（事件日志重算，截至 {_local(period.end)}）")
    window = {"start": period.start, "end": period.end, "as_of": period.end, "community_id": community.id}
    total = kpi.kpi_summary(session, **window)
    ws3.append(_kpi_line("合计", total))
    for group_by, title in GROUP_TITLES.items():
        ws3.append([])
        ws3.append([title])
        ws3.cell(row=ws3.max_row, column=1).font = Font(bold=True)
        for row in kpi.kpi_table(session, group_by=group_by, **window):  # type: ignore[arg-type]
            ws3.append(_kpi_line(row.label, row))
    ws_cb = _sheet(wb, "共建", cobuilding_figures.REPORT_COLUMNS, f"本周大党委共建（{span}）")
    for line in cobuilding_figures.report_lines(session, community.id, period.start, period.end):
        ws_cb.append(line)
    ws4 = wb.create_sheet("口径说明")
    ws4.column_dimensions["A"].width = 120
    ws4.append(["指标口径"])
    for sentence in kpi.METHOD.split("；"):
        ws4.append([sentence.strip("。") + "。"])
    ws4.append(["个人信息：诉求人仅显示姓氏，电话中间四位、房号均已隐去，诉求摘要中的电话和房号已脱敏。"])

    # Fixed document properties keep the file stable for a given database state.
    wb.properties.creator = "hongguan"
    wb.properties.created = wb.properties.modified = period.end.replace(tzinfo=None)
    buffer = io.BytesIO()
    wb.save(buffer)
    headline = {
        "appeals": total.appeals,
        "consultations": total.consultations,
        "closed": total.closed,
        "overdue_open": len(overdue_rows),
        "rows": len(week),
    }
    return buffer.getvalue(), headline


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader (the download endpoint) never sees a half-written file.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def notify_recipients(session: Session, community_id: int) -> list[int]:
    """Active staff of the community who receive the weekly notice."""
    stmt = (
        select(Staff.id)
        .where(Staff.community_id == community_id, Staff.active.is_(True), Staff.role.in_(RECIPIENT_ROLES))
        .order_by(Staff.id)
    )
    return list(session.scalars(stmt))


def generate_weekly_report(
    session: Session, *, community_id: int, reports_dir: Path, now: datetime | None = None
) -> tuple[Report, bool]:
    """Make (once per ISO week) the community's weekly report file, record it and notify its staff.

    Returns (report, created). A second call for the same week returns the existing row and sends nothing; if
    its file went missing it is written again. The caller commits (and enqueues the deferred notices).
    """
    community = session.get(Community, community_id)
    if community is None:
        raise NotFound(f"社区 {community_id} 不存在")
    period = weekly_period(now or clock.now())
    existing = session.scalar(
        select(Report).where(
            Report.kind == "weekly", Report.community_id == community_id, Report.period_key == period.key
        )
    )
    if existing is not None and reports_path(reports_dir, existing).exists():
        return existing, False
    data, headline = build_workbook(session, community, period)
    filename = f"weekly-{community.code}-{period.key}.xlsx"
    _write_atomically(reports_dir / filename, data)
    digest = hashlib.sha256(data).hexdigest()
    if existing is not None:  # the row survived but the file did not: restore it, do not notify again
        existing.sha256, existing.size_bytes = digest, len(data)
        session.flush()
        return existing, False
    report = Report(
        kind="weekly",
        community_id=community_id,
        period_key=period.key,
        period_start=period.start,
        period_end=period.end,
        filename=filename,
        sha256=digest,
        size_bytes=len(data),
        appeal_count=headline["rows"],
    )
    session.add(report)
    session.flush()
    recipients = notify_recipients(session, community_id)
    summary = (
        f"本周受理诉求{headline['appeals']}件、咨询{headline['consultations']}件，"
        f"已办结{headline['closed']}件；超期未办结{headline['overdue_open']}件"
    )
    for staff_id in recipients:
        notify_staff(
            session,
            staff_id,
            key=f"weekly-report-{community_id}-{period.key}",
            title=f"{community.name}民意诉求周报（{period.key}）",
            fields={
                "number": period.key,
                "summary": summary,
                "note": f"下载：/console/api/reports/{report.id}",
            },
            related=("report", report.id),
        )
    report.notified_staff = len(recipients)
    session.flush()
    return report, True


def list_reports(session: Session, *, community_id: int | None, limit: int = 20) -> list[Report]:
    """Reports newest first, optionally for one community."""
    stmt = select(Report).order_by(Report.period_end.desc(), Report.id.desc()).limit(limit)
    if community_id is not None:
        stmt = stmt.where(Report.community_id == community_id)
    return list(session.scalars(stmt))
