"""周报 and 红黑榜 pages: made on demand (once per period), listed, downloaded; roles checked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.audit import AuditEntry
from models.reports import RankingSnapshot, Report
from services.appeals import property_ranking as ranking
from tests.console.pages.conftest import csrf_of


def test_the_secretary_makes_this_weeks_report_now_once_and_downloads_it(
    session: Session, browser_for: Any, make_appeal: Any
) -> None:
    make_appeal()
    secretary = browser_for("secretary")
    page = secretary.get("/console/reports").get_data(as_text=True)
    assert "还没有周报" in page
    for _ in range(2):
        resp = secretary.post("/console/reports/weekly", data={"csrf_token": csrf_of(page)})
        assert resp.status_code == 303
    assert session.scalar(select(func.count()).select_from(Report)) == 1
    report = session.scalar(select(Report))
    listed = secretary.get("/console/reports").get_data(as_text=True)
    assert report.filename in listed
    file = secretary.get(f"/console/reports/{report.id}/download")
    assert file.status_code == 200
    assert file.data[:2] == b"PK"  # an XLSX is a zip
    file.close()
    assert session.scalar(select(func.count()).where(AuditEntry.action == "generate_report")) == 2


def test_a_grid_worker_may_not_make_or_read_reports(browser_for: Any) -> None:
    worker = browser_for("g1_worker")
    assert worker.get("/console/reports").status_code == 403
    page = worker.get("/console/").get_data(as_text=True)
    assert worker.post("/console/reports/weekly", data={"csrf_token": csrf_of(page)}).status_code == 403


def test_the_red_black_list_is_computed_on_demand_once_a_month(session: Session, browser_for: Any) -> None:
    officer = browser_for("secretary")
    page = officer.get("/console/rankings").get_data(as_text=True)
    assert "尚未计算" in page
    for _ in range(2):
        assert officer.post("/console/rankings/compute", data={"csrf_token": csrf_of(page)}).status_code == 303
    assert session.scalar(select(func.count()).select_from(RankingSnapshot)) == 1
    session.commit()
    shown = officer.get("/console/rankings").get_data(as_text=True)
    assert "统计期" in shown
    snapshot = session.scalar(select(RankingSnapshot))
    first, last = ranking.window_days(ranking.snapshot_view(session, snapshot))
    assert (last + timedelta(days=1)).day == 1  # up to the last Beijing day before this month
    assert (last - first).days == 89  # 90 Beijing days, both ends included (not the UTC dates of the bounds)
    assert f"{first} 至 {last}" in shown
    assert 'id="ranking"' in shown
    leader = browser_for("g1_leader")
    assert 'id="compute-ranking"' not in leader.get("/console/rankings").get_data(as_text=True)
    assert leader.post("/console/rankings/compute", data={"csrf_token": csrf_of(shown)}).status_code in (400, 403)
