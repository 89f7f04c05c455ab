"""The cron schedule, run by RQ's own CronScheduler (`hongguan scheduler`).

Cron expressions are evaluated in UTC by RQ; Suzhou is UTC+8 with no daylight saving, so local times are
converted by hand and noted beside each entry.
"""

from __future__ import annotations

from redis import Redis
from rq.cron import CronScheduler

from jobs import outbox


def build_scheduler(connection: Redis) -> CronScheduler:
    """A CronScheduler with every periodic hongguan job registered."""
    scheduler = CronScheduler(connection=connection, name="hongguan-cron")
    # Outbox rows that Redis refused (outage) reach RQ within a minute of Redis returning.
    scheduler.register(outbox.sweep_outbox, "default", interval=30, job_timeout=120)
    return scheduler
