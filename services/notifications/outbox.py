"""Record work for RQ inside the caller's transaction; it is enqueued after commit (or by the sweeper).

This is how hongguan keeps "persist first, enqueue second": if Redis is down when the resident's message
arrives, the row stays here and `jobs.outbox.sweep_outbox` enqueues it when Redis is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models.outbox import PendingJob

_SESSION_KEY = "hongguan.outbox.new"
_ROWS_PER_INSERT = 200  # 7 parameters a row: well under SQLite's limit of bound parameters per statement


def defer(
    session: Session,
    func: str,
    *args: Any,
    job_id: str,
    queue: str = "default",
    run_at: datetime | None = None,
    **kwargs: Any,
) -> None:
    """Record `func(*args, **kwargs)` to run after commit; a second defer with the same job_id is ignored."""
    dialect = session.get_bind().dialect.name
    values = {"job_id": job_id, "func": func, "args": list(args), "kwargs": kwargs, "queue": queue, "run_at": run_at}
    if dialect == "postgresql":
        stmt = pg_insert(PendingJob).values(**values).on_conflict_do_nothing(index_elements=["job_id"])
    else:
        stmt = sqlite_insert(PendingJob).values(**values).on_conflict_do_nothing(index_elements=["job_id"])
    session.execute(stmt)
    session.info.setdefault(_SESSION_KEY, []).append(job_id)


def defer_many(session: Session, func: str, calls: Sequence[tuple[str, list[Any]]], *, queue: str = "default") -> None:
    """Record many `func(*args)` calls, given as (job_id, args), in one INSERT; job ids already recorded are ignored."""
    if not calls:
        return
    values = [
        {"job_id": job_id, "func": func, "args": list(args), "kwargs": {}, "queue": queue} for job_id, args in calls
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(values), _ROWS_PER_INSERT):
        stmt = insert(PendingJob).values(values[start : start + _ROWS_PER_INSERT])
        session.execute(stmt.on_conflict_do_nothing(index_elements=["job_id"]))
    session.info.setdefault(_SESSION_KEY, []).extend(job_id for job_id, _ in calls)


def deferred_job_ids(session: Session) -> list[str]:
    """Job ids deferred in this session and not yet handed over (what the current transaction has queued)."""
    return list(session.info.get(_SESSION_KEY, ()))


def keep_new_job_ids(session: Session, job_ids: list[str]) -> None:
    """Put job ids back for the after-commit enqueue (a caller that took some to run them itself)."""
    session.info.setdefault(_SESSION_KEY, []).extend(job_ids)


def take_new_job_ids(session: Session) -> list[str]:
    """Job ids deferred in this session since the last call (for the after-commit enqueue)."""
    return session.info.pop(_SESSION_KEY, [])


def mark_done(session: Session, job_id: str, now: datetime) -> None:
    """Note that the job recorded under `job_id` finished its work (the resume sweep then leaves it alone)."""
    session.execute(update(PendingJob).where(PendingJob.job_id == job_id).values(done_at=now))


def undone(
    session: Session, func: str, *, handed_before: datetime, since: datetime, max_attempts: int, limit: int
) -> list[PendingJob]:
    """Rows of `func` handed to RQ before `handed_before` (and recorded after `since`) whose job never said done."""
    stmt = (
        select(PendingJob)
        .where(PendingJob.func == func, PendingJob.done_at.is_(None))
        .where(PendingJob.enqueued_at < handed_before, PendingJob.created_at >= since)
        .where(PendingJob.attempts < max_attempts)
        .order_by(PendingJob.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def due(session: Session, now: datetime, limit: int = 500) -> list[PendingJob]:
    """Rows not yet handed to RQ whose time has come."""
    stmt = (
        select(PendingJob)
        .where(PendingJob.enqueued_at.is_(None))
        .where((PendingJob.run_at.is_(None)) | (PendingJob.run_at <= now))
        .order_by(PendingJob.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))
