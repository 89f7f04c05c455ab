"""Deferred jobs reach RQ after commit, survive a Redis outage in the outbox, and run once."""

from __future__ import annotations

from sqlalchemy import select

from jobs.outbox import commit_and_enqueue, sweep
from models import PendingJob
from services.notifications.outbox import defer


def test_deferred_job_is_enqueued_after_commit_once(app, session):
    with app.app_context():
        defer(session, "jobs.outbox.sweep_outbox", job_id="probe-1")
        defer(session, "jobs.outbox.sweep_outbox", job_id="probe-1")  # same id: ignored
        commit_and_enqueue(session)
        from jobs.queue import get_queue

        assert get_queue().job_ids == ["probe-1"]
        row = session.scalar(select(PendingJob).where(PendingJob.job_id == "probe-1"))
        assert row.enqueued_at is not None


def test_redis_outage_leaves_rows_for_the_sweeper(app, session, redis_server):
    with app.app_context():
        redis_server.stop()  # a real outage: connections are refused
        try:
            defer(session, "jobs.outbox.sweep_outbox", job_id="probe-2")
            commit_and_enqueue(session)  # commits; the enqueue fails and is absorbed
            row = session.scalar(select(PendingJob).where(PendingJob.job_id == "probe-2"))
            assert row.enqueued_at is None
            assert row.attempts == 1
            assert "Error" in row.last_error
            assert sweep(session) == 0  # still down: nothing lost, nothing enqueued
        finally:
            redis_server.start()
        assert sweep(session) == 1
        assert sweep(session) == 0
        from jobs.queue import get_queue

        assert get_queue().job_ids == ["probe-2"]
