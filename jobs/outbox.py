"""Hand outbox rows to RQ: right after the commit that wrote them, and from the periodic sweeper."""

from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import clock
from jobs.queue import enqueue
from models.outbox import PendingJob
from services import outbox

log = logging.getLogger(__name__)


def _enqueue_rows(session: Session, rows: list[PendingJob], connection: Redis | None) -> int:
    sent = 0
    for row in rows:
        try:
            enqueue(row.func, *row.args, job_id=row.job_id, queue=row.queue, connection=connection, **row.kwargs)
        except RedisError as e:
            row.attempts += 1
            row.last_error = f"{type(e).__name__}: {e}"[:500]
            log.warning("redis unavailable; %d job(s) left for the sweeper", len(rows) - sent)
            break
        row.enqueued_at = clock.now()
        sent += 1
    return sent


def enqueue_committed(session: Session, connection: Redis | None = None) -> int:
    """Enqueue the jobs deferred in the transaction just committed; Redis errors leave them for the sweeper."""
    job_ids = outbox.take_new_job_ids(session)
    if not job_ids:
        return 0
    now = clock.now()
    rows = [
        r
        for r in session.scalars(select(PendingJob).where(PendingJob.job_id.in_(job_ids)).order_by(PendingJob.id))
        if r.enqueued_at is None and (r.run_at is None or r.run_at <= now)
    ]
    sent = _enqueue_rows(session, rows, connection)
    session.commit()
    return sent


def sweep(session: Session, connection: Redis | None = None) -> int:
    """Enqueue every due outbox row that has not reached RQ yet (run by cron and after Redis outages)."""
    rows = outbox.due(session, clock.now())
    sent = _enqueue_rows(session, rows, connection)
    session.commit()
    return sent


def commit_and_enqueue(session: Session, connection: Redis | None = None) -> None:
    """Commit the caller's transaction, then hand its deferred jobs to RQ (never raises for Redis)."""
    session.commit()
    try:
        enqueue_committed(session, connection)
    except RedisError:  # pragma: no cover - _enqueue_rows already absorbs these; belt and braces
        session.rollback()


def sweep_outbox() -> int:
    """Cron job: enqueue outbox rows that Redis refused earlier (runs inside the worker's app context)."""
    from infra.web import db_session, get_redis

    return sweep(db_session(), get_redis())
