"""Every periodic job is registered with RQ's cron scheduler and is importable by the worker."""

from __future__ import annotations

import importlib

from redis import Redis

from jobs.schedule import build_scheduler


def test_every_periodic_job_is_registered_and_importable(redis_url):
    connection = Redis.from_url(redis_url)
    try:
        jobs = build_scheduler(connection).get_jobs()
    finally:
        connection.close()
    names = {job.func_name for job in jobs}
    assert {
        "jobs.outbox.sweep_outbox",
        "jobs.inbound.resume_stuck",
        "jobs.notifications.resume_broadcasts",
        "jobs.notifications.resume_lost_deliveries",
        "jobs.tokens.refresh_access_tokens",
        "jobs.appeals.tick",
        "jobs.cobuilding.tick",
        "jobs.booking.release_no_shows",
        "jobs.appeals.weekly_report",
        "jobs.appeals.monthly_ranking",
        "jobs.points.reconcile",
        "jobs.participation.publish_closed_ballots",
        "jobs.participation.expire_unsupported_proposals",
    } <= names
    for job in jobs:
        module, _, func = job.func_name.rpartition(".")
        assert callable(getattr(importlib.import_module(module), func))
        assert bool(job.interval) != bool(job.cron)  # exactly one of interval / cron
