"""The cron schedule, run by RQ's own CronScheduler (`hongguan scheduler`).

RQ evaluates cron expressions in UTC; Suzhou is UTC+8 with no daylight saving, so local times are converted
by hand and written beside each entry.
"""

from __future__ import annotations

from redis import Redis
from rq.cron import CronScheduler

from jobs import appeals, booking, callups, cobuilding, inbound, notifications, outbox, participation, points, tokens
from jobs.leader import LeaderCronScheduler, SchedulerLease


def build_scheduler(connection: Redis, lease: SchedulerLease | None = None) -> CronScheduler:
    """A CronScheduler with every periodic hongguan job registered; with a lease, one that runs only while the
    lease is held (one scheduler across hosts)."""
    s = (
        CronScheduler(connection=connection, name="hongguan-cron")
        if lease is None
        else LeaderCronScheduler(connection, lease, name=f"hongguan-cron-{lease.identity}")
    )
    # Outbox rows that Redis refused (an outage) reach RQ within 30 s of Redis returning.
    s.register(outbox.sweep_outbox, "default", interval=30, job_timeout=120)
    # A stored resident message whose job was lost after it reached RQ is handed to RQ again.
    s.register(inbound.resume_stuck, "default", interval=300, job_timeout=120)
    # A broadcast chunk lost with a worker (handed to RQ, never done) is handed to RQ again.
    s.register(notifications.resume_broadcasts, "default", interval=300, job_timeout=120)
    # A notification whose job a worker took and died with before starting it is handed to RQ again.
    s.register(notifications.resume_lost_deliveries, "default", interval=300, job_timeout=120)
    # One central refresher keeps the shared access tokens fresh (https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html).
    s.register(tokens.refresh_access_tokens, "default", interval=600, job_timeout=60)
    # Reminders, escalation and auto-close are rows in SQL; the tick turns due rows into stable-id jobs.
    s.register(appeals.tick, "default", interval=60, job_timeout=120)
    # Co-building orders not answered (接单 / decline): remind the unit at half time, then tell the secretary.
    s.register(cobuilding.tick, "default", interval=60, job_timeout=120)
    # Venue no-shows, waitlist offers that were not confirmed, reminders before a slot.
    s.register(booking.release_no_shows, "default", interval=300, job_timeout=120)
    s.register(booking.expire_offers, "default", interval=300, job_timeout=120)
    s.register(booking.send_reminders, "default", interval=300, job_timeout=120)
    # A ballot's results are published within a minute of its close (and at once when someone asks for them).
    s.register(participation.publish_closed_ballots, "default", interval=60, job_timeout=300)
    # Proposals that did not gather their supports in time leave the gathering stage.
    s.register(participation.expire_unsupported_proposals, "low", interval=600, job_timeout=120)
    # Call-up shifts: reminders two hours ahead, no-shows once check-in has closed.
    s.register(callups.remind_shifts, "default", interval=300, job_timeout=120)
    s.register(callups.record_no_shows, "default", interval=600, job_timeout=120)
    s.register(callups.resume_sends, "default", interval=300, job_timeout=120)
    # Uncollected rewards are refunded; the ledger is reconciled nightly (03:30 Suzhou = 19:30 UTC).
    s.register(points.expire_redemptions, "low", interval=600, job_timeout=300)
    s.register(points.reconcile, "low", cron="30 19 * * *", job_timeout=600)
    # The weekly 民意诉求承办单: Friday 17:00 Suzhou = Friday 09:00 UTC.
    s.register(appeals.weekly_report, "low", cron="0 9 * * 5", job_timeout=600)
    # The property companies' red/black list: the 1st of each month, 08:00 Suzhou = 00:00 UTC.
    s.register(appeals.monthly_ranking, "low", cron="0 0 1 * *", job_timeout=600)
    return s
