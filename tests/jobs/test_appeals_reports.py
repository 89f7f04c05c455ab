"""Cron jobs on a real RQ worker: the weekly report reaches staff in WeChat once; the monthly list once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from jobs import appeals as appeal_jobs
from jobs.queue import enqueue
from models import Appeal, AppealEvent, RankingSnapshot, Report


def _one_rated_appeal(session, org, at: datetime) -> None:
    appeal = Appeal(text="垃圾桶满了", community_id=org.community.id, grid_id=org.grids["G1"].id, created_at=at)
    session.add(appeal)
    session.flush()
    payload = {
        "handler_type": "property_company",
        "grid_id": org.grids["G1"].id,
        "department_id": None,
        "property_company_id": org.companies["PC-LH"].id,
        "community_id": org.community.id,
        "accept_due_at": (at + timedelta(hours=3)).isoformat(),
        "due_at": (at + timedelta(days=3)).isoformat(),
    }
    for action, hours, extra in [
        ("create", 0, {"payload": {"kind": "appeal", "channel": "wechat"}}),
        ("dispatch", 1, {"payload": payload}),
        ("accept", 2, {}),
        ("resolve", 20, {}),
        ("close", 30, {"reason_code": "resolved"}),
        ("rate", 31, {"payload": {"rating": "satisfied"}}),
    ]:
        session.add(
            AppealEvent(
                appeal_id=appeal.id,
                action=action,
                actor_type="system",
                created_at=at + timedelta(hours=hours),
                **extra,
            )
        )
        session.flush()


def test_weekly_report_job_notifies_staff_in_wechat_once(app, session, org, clock, run_jobs, sandbox):
    _one_rated_appeal(session, org, datetime(2026, 11, 16, 1, 0, tzinfo=UTC))
    session.commit()
    clock.advance(timedelta(hours=7))  # Friday 17:00 Suzhou, when the cron fires
    with app.app_context():
        enqueue(appeal_jobs.weekly_report, job_id="cron-weekly-report-1")
    run_jobs()  # the report job, then the notification jobs it handed to RQ

    report = session.scalar(select(Report))
    assert report.period_key == "2026-W47"
    assert (Path(app.instance_path) / "reports" / report.filename).exists()
    secretary = org.staff["secretary"].openid
    sent = sandbox.sent(secretary, "template")
    assert len(sent) == 1
    assert "2026-W47" in str(sent[0])
    assert len(sandbox.sent(org.staff["g3_leader"].openid, "template")) == 1
    assert sandbox.sent(org.staff["pc_lh"].openid) == []  # property staff are not report recipients

    # The cron fires again (a retry, or a second scheduler): nothing new is made or sent.
    with app.app_context():
        enqueue(appeal_jobs.weekly_report, job_id="cron-weekly-report-2")
    run_jobs()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Report)) == 1
    assert len(sandbox.sent(secretary, "template")) == 1


def test_monthly_ranking_job_is_idempotent(app, session, org, clock, run_jobs):
    for i in range(6):
        _one_rated_appeal(session, org, datetime(2026, 11, 2 + i, 1, 0, tzinfo=UTC))
    session.commit()
    clock.advance(timedelta(days=11))  # 2026-12-01 10:00 Suzhou
    with app.app_context():
        enqueue(appeal_jobs.monthly_ranking, job_id="cron-ranking-1")
        enqueue(appeal_jobs.monthly_ranking, job_id="cron-ranking-2")
    assert run_jobs() == 2
    snapshots = list(session.scalars(select(RankingSnapshot)))
    assert [s.period_key for s in snapshots] == ["2026-12"]
    assert snapshots[0].prior_mean == 1.0
