"""Appeal jobs: the ladder's per-minute tick and one job per (appeal, round, level) step; the weekly report and
the property companies' monthly red/black list.

The Reminder rows in SQL are the source of truth. `tick` (registered with RQ's cron scheduler every minute)
hands every due, unsent row to RQ under a stable job id, so a tick that runs twice, a worker that dies
between scheduling and running, or a Redis that lost its queue all end with the step done exactly once:
the next tick re-enqueues whatever is still unsent, and `send_reminder` claims the row before acting.

`weekly_report` runs Friday 17:00 local and `monthly_ranking` daily (RQ's CronScheduler evaluates cron in UTC;
Suzhou is UTC+8, no DST, and cron in UTC cannot say "00:05 on the 1st in Suzhou"); the ranking is computed once a
month, so the other runs are no-ops. Both are idempotent: a second run in the same ISO week / month changes nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from infra import clock
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from jobs.queue import enqueue
from models.org import Community
from services.appeals import deadlines, property_ranking, workflow
from services.reporting import weekly as reports

log = logging.getLogger(__name__)

SEND_REMINDER = "jobs.appeals.send_reminder"
# Longer than any step takes, including RQ's retries of a failed attempt (10 s + 60 s backoff).
STUCK_AFTER = timedelta(minutes=10)
# Escalations (and every triage step: someone is waiting for a unit) jump the queue.
URGENT_LEVELS = frozenset({"overdue", "secretary", "accept_overdue", *deadlines.TRIAGE_LEVELS})


def tick(limit: int = 500) -> int:
    """Enqueue every due ladder step that has not been sent (idempotent: stable job ids); returns how many."""
    session = db_session()
    now = clock.now()
    rows = deadlines.due_reminders(session, now, limit=limit)
    for row in rows:
        # Redis errors propagate: the rows stay unsent and the next tick tries again. A step handed to RQ long
        # ago and still unsent lost its job (a worker killed at the wrong instant): its job id is replaced.
        enqueue(
            SEND_REMINDER,
            row.appeal_id,
            row.level,
            job_id=deadlines.job_id(row.appeal_id, row.round, row.level),
            queue="urgent" if row.level in URGENT_LEVELS else "default",
            replace_idle=row.enqueued_at is not None and now - row.enqueued_at > STUCK_AFTER,
        )
        if row.enqueued_at is None:
            row.enqueued_at = now
    session.commit()
    if rows:
        log.info("appeal tick: %d due ladder step(s) handed to RQ", len(rows))
    return len(rows)


def send_reminder(appeal_id: int, level: str) -> str:
    """Run one ladder step for the appeal (remind, mark overdue, escalate, auto-close), once."""
    session = db_session()
    outcome = workflow.run_step(session, appeal_id, level)
    commit_and_enqueue(session)  # the notifications were deferred through the outbox in the same transaction
    log.info("appeal %s step %s: %s", appeal_id, level, outcome)
    return outcome


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
        snapshot, created = property_ranking.compute_snapshot(session)
        session.commit()
    except IntegrityError:
        session.rollback()
        snapshot, created = property_ranking.compute_snapshot(session)
    if created:
        log.info("red/black list %s computed (prior %.3f)", snapshot.period_key, snapshot.prior_mean)
    return snapshot.id
