"""Cron jobs of issue 4: the Friday 17:00 weekly report and the monthly red/black list.

Registration for jobs/schedule.py (RQ's CronScheduler evaluates cron in UTC; Suzhou is UTC+8, no DST):
    scheduler.register(reports.weekly_report, "low", cron="0 9 * * 5", job_timeout=600)  # Fri 17:00 local
    scheduler.register(reports.monthly_ranking, "low", cron="5 16 * * *", job_timeout=300)  # 00:05 local
The ranking job runs daily because cron in UTC cannot say "00:05 on the 1st in Suzhou" (16:05 on the last
day of the previous month in UTC); it computes a month's snapshot only once, so the other runs are no-ops.
Both are idempotent: a second run in the same ISO week / month changes nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from models.org import Community
from services import ranking, reports

log = logging.getLogger(__name__)


def reports_dir() -> Path:
    """INSTANCE_PATH/reports, where generated files live."""
    return Path(current_app.config["INSTANCE_PATH"]) / "reports"


def weekly_report() -> list[int]:
    """Make the latest completed week's report for every community and notify its staff; returns the ids."""
    session = db_session()
    ids = []
    for community_id in list(session.scalars(select(Community.id).order_by(Community.id))):
        try:
            report, created = reports.generate_weekly_report(
                session, community_id=community_id, reports_dir=reports_dir()
            )
            commit_and_enqueue(session)  # the row and its deferred notices together, then hand them to RQ
        except IntegrityError:
            # A concurrent run recorded this week first; its row and notices stand.
            session.rollback()
            log.info("weekly report for community %s already made by another run", community_id)
            continue
        ids.append(report.id)
        if created:
            log.info("weekly report %s for community %s: %s", report.period_key, community_id, report.filename)
    return ids


def monthly_ranking() -> int:
    """Compute this month's property companies' red/black list (once per month); returns the snapshot id."""
    session = db_session()
    try:
        snapshot, created = ranking.compute_snapshot(session)
        session.commit()
    except IntegrityError:
        session.rollback()
        snapshot, created = ranking.compute_snapshot(session)
    if created:
        log.info("red/black list %s computed (prior %.3f)", snapshot.period_key, snapshot.prior_mean)
    return snapshot.id
