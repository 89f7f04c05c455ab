"""Hand outbox rows to RQ: right after the commit that wrote them, and from the periodic sweeper."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq.utils import import_attribute
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra import clock
from jobs.moved import resolve
from jobs.queue import enqueue
from models.outbox import PendingJob
from services.notifications import outbox

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


def commit_and_enqueue(
    session: Session, connection: Redis | None = None, *, run_here: str | Sequence[str] | None = None
) -> None:
    """Commit the caller's transaction, then hand its deferred jobs to RQ (never raises for Redis).

    `run_here` names deferred jobs that a worker job runs itself, right away and in that order, instead of
    enqueueing them: the answer to the message it just handled and the alerts to the staff it told. One job per
    resident message instead of two or three cuts the worker's per-message cost; the rows stay the record, so if
    a run fails or the worker dies during it, RQ's retry (or the sweeper) runs the same job id again, and the
    delivery ledger keeps it to one send.
    """
    wanted = [run_here] if isinstance(run_here, str) else list(run_here or ())
    inline: list[tuple[str, str, list[Any], dict[str, Any]]] = []
    if wanted:
        ids = outbox.take_new_job_ids(session)
        here = [job_id for job_id in wanted if job_id in ids]
        outbox.keep_new_job_ids(session, [job_id for job_id in ids if job_id not in here])
        if here:  # read in the caller's transaction, before its commit: no extra round trip
            stmt = select(PendingJob.job_id, PendingJob.func, PendingJob.args, PendingJob.kwargs)
            rows = {r.job_id: r for r in session.execute(stmt.where(PendingJob.job_id.in_(here)))}
            inline = [(j, rows[j].func, list(rows[j].args), dict(rows[j].kwargs)) for j in here if j in rows]
    session.commit()
    try:
        enqueue_committed(session, connection)
    except RedisError:  # pragma: no cover - _enqueue_rows already absorbs these; belt and braces
        session.rollback()
    done = [
        job_id for job_id, func, args, kwargs in inline if _run_here(session, job_id, func, args, kwargs, connection)
    ]
    if done:
        # Done: the sweeper has nothing left to hand over (one UPDATE for all of them).
        session.execute(
            update(PendingJob)
            .where(PendingJob.job_id.in_(done), PendingJob.enqueued_at.is_(None))
            .values(enqueued_at=clock.now())
        )
        session.commit()


def _run_here(
    session: Session, job_id: str, func: str, args: list[Any], kwargs: dict[str, Any], connection: Redis | None
) -> bool:
    """Run a deferred job in this process; on failure hand it to RQ for its retries, or leave it to the sweeper."""
    try:
        import_attribute(resolve(func))(*args, **kwargs)
    except Exception as e:  # the job's own retry policy applies: hand it to RQ under the same id
        log.warning("job %s failed when run in place (%s: %s); handing it to RQ", job_id, type(e).__name__, e)
        session.rollback()
        fresh = session.scalar(select(PendingJob).where(PendingJob.job_id == job_id))
        if fresh is not None and fresh.enqueued_at is None:
            _enqueue_rows(session, [fresh], connection)
        session.commit()
        return False
    return True


def sweep_outbox() -> int:
    """Cron job: enqueue outbox rows that Redis refused earlier (runs inside the worker's app context)."""
    from infra.web import db_session, get_redis

    return sweep(db_session(), get_redis())
