"""Appeal ladder jobs: the per-minute tick and one job per (appeal, round, level) step (R3).

The Reminder rows in SQL are the source of truth. `tick` (registered with RQ's cron scheduler every minute)
hands every due, unsent row to RQ under a stable job id, so a tick that runs twice, a worker that dies
between scheduling and running, or a Redis that lost its queue all end with the step done exactly once:
the next tick re-enqueues whatever is still unsent, and `send_reminder` claims the row before acting.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from infra import clock
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from jobs.queue import enqueue
from services import deadlines, workflow

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
