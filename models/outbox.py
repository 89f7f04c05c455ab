"""Transactional outbox: jobs recorded in the same transaction as the change that needs them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class PendingJob(Base):
    """A job to enqueue once the transaction commits; the sweeper retries any that Redis refused."""

    __tablename__ = "pending_job"
    __table_args__ = (
        Index("ix_pending_job_enqueued_at_run_at", "enqueued_at", "run_at"),
        Index("ix_pending_job_func_done_at", "func", "done_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(200), unique=True)
    func: Mapped[str] = mapped_column(String(200))  # dotted path, e.g. "jobs.notifications.deliver_to_resident"
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    queue: Mapped[str] = mapped_column(String(32), default="default")
    run_at: Mapped[datetime | None] = mapped_column(default=None)  # None = as soon as possible
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # When the job said it finished its work. Set by jobs whose loss a sweep must notice (a broadcast's chunks):
    # a row handed to RQ long ago and still not done is handed to RQ again.
    done_at: Mapped[datetime | None] = mapped_column(default=None)
