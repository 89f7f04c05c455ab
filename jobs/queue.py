"""The one way to enqueue: stable job ids (idempotent), explicit timeouts, retries with backoff."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app
from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus

from infra.web import get_redis
from jobs.moved import resolve

log = logging.getLogger(__name__)

QUEUES = ("urgent", "default", "low")  # workers listen in this order
DEFAULT_RETRY = Retry(max=3, interval=[10, 60, 300])
DEFAULT_TIMEOUT = 60  # seconds; WeChat calls time out after 5 s, DB work is short
FAILURE_TTL = 30 * 24 * 3600  # failed jobs stay in the registry for a month, for an operator to look at


def get_queue(name: str = "default", connection: Redis | None = None) -> Queue:
    """An RQ queue on the app's Redis (or `connection`)."""
    is_async = not current_app.config.get("RQ_SYNC", False) if connection is None else True
    return Queue(name, connection=connection or get_redis(), is_async=is_async)


def enqueue(
    func: Callable[..., Any] | str,
    *args: Any,
    job_id: str,
    queue: str = "default",
    at: datetime | None = None,
    retry: Retry | None = DEFAULT_RETRY,
    timeout: int = DEFAULT_TIMEOUT,
    connection: Redis | None = None,
    replace_idle: bool = False,
    **kwargs: Any,
) -> Job | None:
    """Enqueue `func(*args, **kwargs)` under a stable `job_id`; a second enqueue of a live id is a no-op.

    Returns the job, or None when a job with that id already exists (queued, scheduled, running or kept as
    a result), which is what makes webhook retries and re-scheduling idempotent. With `replace_idle=True` the
    existing job is replaced when it is neither running nor waiting (a job that a dead worker took off its queue
    still says "queued" but is in no queue): for callers whose own records say the work is still undone long
    after it was first enqueued. Redis errors propagate: callers that must not fail (the webhook) catch them and
    rely on the sweeper.
    """
    if isinstance(func, str):
        func = resolve(func)  # an outbox row written before its job function moved
    q = get_queue(queue, connection)
    options: dict[str, Any] = {
        "job_id": job_id,
        "job_timeout": timeout,
        "retry": retry,
        "unique": True,
        "failure_ttl": FAILURE_TTL,
    }
    try:
        if at is not None:
            return q.enqueue_at(at, func, *args, **options, **kwargs)
        return q.enqueue(func, *args, **options, **kwargs)
    except DuplicateJobError:
        if not replace_idle:
            log.debug("job %s already exists; not enqueued again", job_id)
            return None
    # The caller knows the work is still undone (its SQL row says so) and has waited long enough: a job with
    # this id that is not running now is stuck (a worker died around it) or spent; replace it.
    existing = Job.fetch(job_id, connection=q.connection)
    status = existing.get_status()
    waiting = status == JobStatus.QUEUED and existing.get_position() is not None
    if status in (JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED) or waiting:
        return None  # running, or waiting its turn in a queue or registry: it is not lost
    log.warning("job %s was %s but its work is still undone; enqueuing it again", job_id, status)
    existing.delete()
    return q.enqueue(func, *args, **options, **kwargs)
