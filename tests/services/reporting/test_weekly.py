"""The weekly 承办单: its period, content (masked personal data, KPI summary), once-per-week idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Appeal, AppealEvent, PendingJob, Report, Resident
from services.reporting.weekly import generate_weekly_report, notify_recipients, weekly_period

# The conftest clock is frozen at Friday 2026-11-20 10:00 Suzhou; the report is made at 17:00 that day.
REPORT_AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PHONE = "13812345678"


def _event(session: Session, appeal: Appeal, action: str, at: datetime, **fields: Any) -> None:
    session.add(AppealEvent(appeal_id=appeal.id, action=action, actor_type="system", created_at=at, **fields))
    session.flush()


def _appeal(session: Session, org: Any, at: datetime, **columns: Any) -> Appeal:
    kind = columns.pop("kind", "appeal")
    appeal = Appeal(kind=kind, community_id=org.community.id, created_at=at, **columns)
    session.add(appeal)
    session.flush()
    _event(session, appeal, "create", at, to_status="received", payload={"kind": kind, "channel": "wechat"})
    return appeal


def _dispatch(session: Session, org: Any, appeal: Appeal, at: datetime, *, hours: int = 72) -> None:
    payload = {
        "handler_type": "grid",
        "grid_id": appeal.grid_id,
        "department_id": None,
        "property_company_id": None,
        "community_id": org.community.id,
        "accept_due_at": (at + timedelta(hours=2)).isoformat(),
        "due_at": (at + timedelta(hours=hours)).isoformat(),
    }
    _event(session, appeal, "dispatch", at, to_status="dispatched", payload=payload)


@pytest.fixture
def week(session: Session, org: Any) -> dict[str, Any]:
    """Appeals of report week 2026-W47 (Fri 13 Nov 17:00 → Fri 20 Nov 17:00 Suzhou) and one from before."""
    resident = Resident(name="张三丰", phone=PHONE, room="1202", community_id=org.community.id)
    session.add(resident)
    session.flush()
    g1 = org.grids["G1"].id
    tue = datetime(2026, 11, 17, 1, 0, tzinfo=UTC)  # Tuesday 09:00
    a = _appeal(
        session, org, tue, number="HG2611170001", text=f"楼道堆满杂物，电话{PHONE}，1202室",
        resident_id=resident.id,
        building_id=org.buildings["E-LZ-1"].id, grid_id=g1, handler_type="grid", category="environment",
        status="closed", closure_code="resolved", rating="satisfied", due_at=tue + timedelta(hours=73),
        resolved_at=tue + timedelta(hours=20),
    )  # fmt: skip
    _dispatch(session, org, a, tue + timedelta(hours=1))
    _event(session, a, "accept", tue + timedelta(hours=2), to_status="accepted")
    _event(session, a, "resolve", tue + timedelta(hours=20), to_status="resolved")
    _event(session, a, "close", tue + timedelta(hours=30), to_status="closed", reason_code="resolved")
    _event(session, a, "rate", tue + timedelta(hours=31), payload={"rating": "satisfied"})

    c = _appeal(
        session, org, tue + timedelta(hours=3), number="HG2611170002", text="请问社区医院几点开门",
        kind="consultation",
        status="closed", closure_code="resolved",
    )  # fmt: skip
    _event(session, c, "close", tue + timedelta(hours=4), to_status="closed", reason_code="resolved")

    # Friday 13 Nov 16:00 is before the week started: not listed in the week, but open and overdue.
    old_at = datetime(2026, 11, 13, 8, 0, tzinfo=UTC)
    old = _appeal(
        session, org, old_at, number="HG2611130009", text="路灯不亮", grid_id=g1, handler_type="grid",
        status="in_progress", due_at=old_at + timedelta(hours=48), overdue=True,
    )  # fmt: skip
    _dispatch(session, org, old, old_at + timedelta(hours=1), hours=47)
    session.commit()
    return {"appeal": a, "consultation": c, "old": old}


def _cells(path: Path) -> dict[str, list[list[Any]]]:
    wb = load_workbook(path, read_only=True)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def _staff_jobs(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(PendingJob).where(PendingJob.func.like("%staff%"))) or 0


@pytest.mark.parametrize(
    ("now", "key", "end"),
    [
        (datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "2026-W47", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
        (datetime(2026, 11, 20, 8, 59, tzinfo=UTC), "2026-W46", datetime(2026, 11, 13, 9, 0, tzinfo=UTC)),
        (datetime(2026, 11, 22, 15, 0, tzinfo=UTC), "2026-W47", datetime(2026, 11, 20, 9, 0, tzinfo=UTC)),
        (datetime(2027, 1, 1, 10, 0, tzinfo=UTC), "2026-W53", datetime(2027, 1, 1, 9, 0, tzinfo=UTC)),
    ],
)
def test_weekly_period_is_the_latest_friday_1700_week(now, key, end):
    period = weekly_period(now)
    assert (period.key, period.end, period.start) == (key, end, end - timedelta(days=7))


def test_weekly_report_content_is_masked_and_counts_the_week(app, session, org, week, tmp_path):
    report, created = generate_weekly_report(
        session, community_id=org.community.id, reports_dir=tmp_path, now=REPORT_AT
    )
    session.commit()
    assert created
    assert (report.period_key, report.appeal_count) == ("2026-W47", 2)
    path = tmp_path / report.filename
    assert path.exists()
    assert path.stat().st_size == report.size_bytes
    sheets = _cells(path)
    assert list(sheets) == ["承办单", "超期未办结", "指标汇总", "共建", "口径说明"]

    listing = sheets["承办单"]
    assert listing[1][:4] == ["编号", "受理时间", "类型", "类别"]
    numbers = [r[0] for r in listing[2:]]
    assert numbers == ["HG2611170001", "HG2611170002"]  # the old appeal belongs to the previous week
    row = listing[2]
    assert row[1] == "2026-11-17 09:00"
    assert row[5] == "1幢 ****"  # building only, never the room
    assert row[6] == "张**"
    assert row[7] == "138****5678"
    assert row[8] == "第一网格"
    assert row[9] == "已结案（已解决）"
    assert row[11] == "否"
    assert row[13] == "满意"
    assert listing[3][2] == "咨询"

    # No cell anywhere holds the full phone number or the room.
    everything = " ".join(str(c) for rows in sheets.values() for r in rows for c in r if c is not None)
    assert PHONE not in everything
    assert "1202" not in everything

    overdue = sheets["超期未办结"]
    assert [r[0] for r in overdue[2:]] == ["HG2611130009"]
    assert overdue[2][11] == "是"

    kpis = sheets["指标汇总"]
    total = kpis[2]
    assert total[:4] == ["合计", 1, 1, 1]  # one appeal, one consultation, one dispatch
    assert total[5] == "100.0%"  # accepted within the 2 h acceptance deadline
    assert total[7] == "100.0%"  # completion
    assert total[15] == "100.0%"  # satisfaction
    assert any(r and r[0] == "第一网格" for r in kpis)
    assert any("满意率" in str(r[0]) for r in sheets["口径说明"])


def test_weekly_report_is_made_once_per_week_and_notifies_staff_once(app, session, org, week, tmp_path):
    recipients = notify_recipients(session, org.community.id)
    expected = {org.staff[k].id for k in ("secretary", "community_staff", "g1_leader", "g2_leader", "g3_leader")}
    assert set(recipients) == expected
    first, created = generate_weekly_report(session, community_id=org.community.id, reports_dir=tmp_path, now=REPORT_AT)
    session.commit()
    assert created
    assert first.notified_staff == 5
    assert _staff_jobs(session) == 5
    content = (tmp_path / first.filename).read_bytes()

    again, created = generate_weekly_report(
        session, community_id=org.community.id, reports_dir=tmp_path, now=REPORT_AT + timedelta(hours=20)
    )
    session.commit()
    assert (again.id, created) == (first.id, False)
    assert _staff_jobs(session) == 5
    assert (tmp_path / first.filename).read_bytes() == content
    assert session.scalar(select(func.count()).select_from(Report)) == 1

    # The file was lost: the same week's report is written again, without a second notice.
    (tmp_path / first.filename).unlink()
    restored, created = generate_weekly_report(
        session, community_id=org.community.id, reports_dir=tmp_path, now=REPORT_AT
    )
    session.commit()
    assert (restored.id, created) == (first.id, False)
    assert (tmp_path / first.filename).exists()
    assert _staff_jobs(session) == 5

    # The next Friday is a new week.
    nxt, created = generate_weekly_report(
        session, community_id=org.community.id, reports_dir=tmp_path, now=REPORT_AT + timedelta(days=7)
    )
    session.commit()
    assert created
    assert nxt.period_key == "2026-W48"
    assert nxt.appeal_count == 0
