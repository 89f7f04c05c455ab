"""Co-building order ladder jobs: the per-minute tick and one job per (order, level) step.

The reminder rows in SQL are the source of truth, as for appeals (`jobs.appeals`): the tick hands every due,
unsent row to RQ under a stable job id, and `send_reminder` claims the row before acting, so a repeated or lost
job never reminds or escalates twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from infra import clock
from infra.web import db_session
from jobs.outbox import commit_and_enqueue
from jobs.queue import enqueue
from services.cobuilding import orders

log = logging.getLogger(__name__)

SEND_REMINDER = "jobs.cobuilding.send_reminder"
STUCK_AFTER = timedelta(minutes=10)


def tick(limit: int = 500) -> int:
    """Enqueue every due order ladder step that has not been sent (stable job ids); returns how many."""
    session = db_session()
    now = clock.now()
    rows = orders.due_reminders(session, now, limit=limit)
    for row in rows:
        enqueue(
            SEND_REMINDER,
            row.order_id,
            row.level,
            job_id=orders.job_id(row.order_id, row.level),
            queue="urgent" if row.level == "overdue" else "default",
            replace_idle=row.enqueued_at is not None and now - row.enqueued_at > STUCK_AFTER,
        )
        if row.enqueued_at is None:
            row.enqueued_at = now
    session.commit()
    if rows:
        log.info("cobuilding tick: %d due order step(s) handed to RQ", len(rows))
    return len(rows)


def send_reminder(order_id: int, level: str) -> str:
    """Run one ladder step of an order (remind the unit, or escalate to the secretary), once."""
    session = db_session()
    outcome = orders.run_step(session, order_id, level)
    commit_and_enqueue(session)
    log.info("cobuilding order %s step %s: %s", order_id, level, outcome)
    return outcome
