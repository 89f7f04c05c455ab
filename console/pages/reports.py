"""报表: the weekly 承办单 (made on demand as well as by Friday's cron, listed, downloaded) and the 红黑榜 of
property companies (the latest monthly snapshot, computable on demand; both idempotent per period)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Response, current_app, redirect, send_file, url_for
from sqlalchemy.exc import IntegrityError

from console.pages.web import PageError, bp, page, record, signed_in, staff
from console.reports import REPORT_ROLES, XLSX, report_visible
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from models.reports import Report
from services.appeals import property_ranking as ranking
from services.appeals.workflow import COMMUNITY_ROLES, GLOBAL_ROLES
from services.errors import NotFound
from services.reporting import weekly as reports

RANKING_ROLES = (*COMMUNITY_ROLES, *GLOBAL_ROLES)


def _reports_dir() -> Path:
    return Path(current_app.config["INSTANCE_PATH"]) / "reports"


def _may_see_reports() -> None:
    if staff().role not in REPORT_ROLES:
        raise PageError(403, "周报仅供社区工作人员和网格长查看。")


@bp.get("/reports")
@signed_in
def reports_page() -> Any:
    """The weekly reports of my community, newest first, with the button that makes this week's now."""
    _may_see_reports()
    member = staff()
    session = db_session()
    everywhere = member.role in GLOBAL_ROLES
    found = reports.list_reports(session, community_id=None if everywhere else member.community_id)
    rows = [r for r in found if report_visible(member, r)]
    body = page("console/reports.html", rows=rows, may_generate=member.role in COMMUNITY_ROLES)
    session.commit()
    return body


@bp.post("/reports/weekly")
@signed_in
def generate_weekly() -> Response:
    """Make the latest completed week's report of my community now (the cron's own run then finds it made)."""
    member = staff()
    if member.role not in COMMUNITY_ROLES or member.community_id is None:
        raise PageError(403, "只有社区工作人员可以生成本社区周报。")
    session = db_session()
    try:
        report, created = reports.generate_weekly_report(session, community_id=member.community_id,
                                                         reports_dir=_reports_dir())  # fmt: skip
    except IntegrityError:  # the cron recorded this week at the same moment: its row stands
        session.rollback()
        return redirect(url_for("console_pages.reports_page"), code=303)
    record("generate_report", "report", report.id, created=created, period=report.period_key)
    commit_and_enqueue(session)
    return redirect(url_for("console_pages.reports_page"), code=303)


@bp.get("/reports/<int:report_id>/download")
@signed_in
def download(report_id: int) -> Response:
    """Download a weekly report (XLSX)."""
    _may_see_reports()
    session = db_session()
    report = session.get(Report, report_id)
    if report is None or not report_visible(staff(), report):
        raise PageError(404, "没有您可查看的这份报告。")
    file = reports.reports_path(_reports_dir(), report)
    session.commit()
    if not file.exists():
        raise PageError(404, "报告文件缺失，请重新生成。")
    return send_file(file, mimetype=XLSX, as_attachment=True, download_name=report.filename, max_age=0)


@bp.get("/rankings")
@signed_in
def rankings_page() -> Any:
    """红黑榜 of the property companies: the newest snapshot with its method and sample sizes."""
    session = db_session()
    try:
        view = ranking.snapshot_view(session, ranking.latest_snapshot(session))
    except NotFound:
        view = None
    days = ranking.window_days(view) if view is not None else None
    body = page("console/rankings.html", view=view, days=days, may_compute=staff().role in RANKING_ROLES)
    session.commit()
    return body


@bp.post("/rankings/compute")
@signed_in
def compute_ranking() -> Response:
    """Compute this month's 红黑榜 now (once per month: a second press, or the cron, finds it made)."""
    if staff().role not in RANKING_ROLES:
        raise PageError(403, "只有社区和街道工作人员可以计算红黑榜。")
    session = db_session()
    try:
        snapshot, created = ranking.compute_snapshot(session)
    except IntegrityError:
        session.rollback()
        return redirect(url_for("console_pages.rankings_page"), code=303)
    record("compute_ranking", "ranking_snapshot", snapshot.id, created=created, period=snapshot.period_key)
    session.commit()
    return redirect(url_for("console_pages.rankings_page"), code=303)
