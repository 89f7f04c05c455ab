"""The inbound relay: hands the messages the webhook stored as `queued` to RQ, in batches, off the request path.

The webhook's only write is the inbound row (persist first); this loop enqueues second. It replaces an
enqueue inside every request, which cost more than the rest of the request together (two Redis round trips
and a Lua script per message; docs/benchmarks.md), with one `enqueue_many` pipeline per batch. It runs as a
thread of `hongguan scheduler`; a Redis outage only makes it retry, so the same code is the normal path and
the recovery path. Rows are marked with `enqueued_at` once RQ has them; `jobs.inbound.resume_stuck` still
re-enqueues a message whose job was lost later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.inbound import JOB, QUEUED, job_id_for
from infra import clock
from infra.web import db_session, get_redis
from jobs.inbound import PER_JOB, batch_job_id_for
from jobs.queue import DEFAULT_RETRY, DEFAULT_TIMEOUT, FAILURE_TTL
from models.messages import InboundMessage

log = logging.getLogger(__name__)

BATCH_JOB = "jobs.inbound.process_inbound_batch"
BATCH = 500  # rows per round; a backlog drains in rounds without a pause between them
INTERVAL = 0.25  # seconds between polls when there is nothing to hand over


def relay_inbound(session: Session, connection: Redis, *, limit: int = BATCH, per_job: int = PER_JOB) -> int:
    """Enqueue the jobs for stored messages not yet handed to RQ; returns how many messages were handed over.

    Idempotent: a job id that RQ already holds (a second relay, or a crash between the enqueue and the mark)
    is not enqueued again. Redis and database errors propagate; nothing is marked unless RQ took the jobs.
    """
    ids = list(
        session.scalars(
            select(InboundMessage.id)
            .where(InboundMessage.status == QUEUED, InboundMessage.enqueued_at.is_(None))
            .order_by(InboundMessage.id)
            .limit(limit)
        )
    )
    session.commit()  # end the read: on SQLite a transaction would hold the webhook's write lock
    if not ids:
        return 0
    # A backlog goes out as jobs of up to `per_job` messages (a lone message keeps its own job, the id the
    # sweeps use); each message of a batch is still checked against its row when the job runs.
    chunks = [ids[i : i + per_job] for i in range(0, len(ids), per_job)]
    jobs = [
        (JOB, (chunk[0],), job_id_for(chunk[0])) if len(chunk) == 1 else (BATCH_JOB, (chunk,), batch_job_id_for(chunk))
        for chunk in chunks
    ]
    check = connection.pipeline(transaction=False)
    for _, _, job_id in jobs:
        check.exists(Job.key_for(job_id))
    known = check.execute()
    datas = [
        Queue.prepare_data(
            func, args, job_id=job_id, timeout=DEFAULT_TIMEOUT, retry=DEFAULT_RETRY, failure_ttl=FAILURE_TTL
        )
        for (func, args, job_id), exists in zip(jobs, known, strict=True)
        if not exists
    ]
    if datas:
        Queue("default", connection=connection).enqueue_many(datas)
    session.execute(update(InboundMessage).where(InboundMessage.id.in_(ids)).values(enqueued_at=clock.now()))
    session.commit()
    return len(ids)


def run(app: Flask, stop: threading.Event, *, interval: float = INTERVAL) -> None:
    """Relay until `stop` is set: poll every `interval` seconds, at once again after a full batch."""
    while not stop.is_set():
        moved = 0
        with app.app_context():
            try:
                moved = relay_inbound(db_session(), get_redis())
            except (RedisError, SQLAlchemyError) as e:
                # Redis down (or the database busy): the rows stay unmarked and the next round retries them.
                log.warning("inbound relay: %s: %s; retrying", type(e).__name__, e)
        if moved < BATCH:
            stop.wait(interval)


def start(app: Flask, *, interval: float = INTERVAL) -> Callable[[], None]:
    """Start the relay in a daemon thread; returns a function that stops it and waits for it."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(app, stop), kwargs={"interval": interval}, name="inbound-relay")
    thread.daemon = True
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(timeout=10)

    return halt
