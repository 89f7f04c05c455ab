"""Workers run each job in its own app context, so jobs reach the database through db_session()."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from redis.exceptions import RedisError
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from sqlalchemy import select

from infra.redis import connect_for_worker
from jobs.outbox import commit_and_enqueue, sweep_outbox
from jobs.queue import QUEUES, enqueue, get_queue
from jobs.worker import HongguanSimpleWorker, wait_for_redis, work_through_outages
from models import PendingJob
from services.notifications.outbox import defer


def test_outbox_sweep_job_runs_in_the_worker_and_uses_the_database(app, session, run_jobs):
    defer(session, "jobs.outbox.sweep_outbox", job_id="nested-sweep")  # a real, importable job
    session.commit()  # committed without enqueueing: only the sweeper can find it now
    with app.app_context():
        enqueue(sweep_outbox, job_id="sweep-1")
        assert run_jobs() == 2  # the sweep, then the job the sweep enqueued
        assert FailedJobRegistry(queue=get_queue()).count == 0
        assert set(FinishedJobRegistry(queue=get_queue()).get_job_ids()) == {"sweep-1", "nested-sweep"}
    session.expire_all()
    row = session.scalar(select(PendingJob).where(PendingJob.job_id == "nested-sweep"))
    assert row.enqueued_at is not None


def test_enqueue_with_a_live_job_id_is_a_no_op(app):
    with app.app_context():
        assert enqueue(sweep_outbox, job_id="same") is not None
        assert enqueue(sweep_outbox, job_id="same") is None
        assert get_queue().count == 1


def test_commit_and_enqueue_hands_deferred_jobs_to_rq(app, session, run_jobs):
    with app.app_context():
        defer(session, "jobs.outbox.sweep_outbox", job_id="after-commit")
        commit_and_enqueue(session)
        assert get_queue().job_ids == ["after-commit"]
        assert run_jobs() == 1


def test_replace_idle_reenqueues_a_spent_or_lost_job_but_never_a_running_or_waiting_one(app, run_jobs):
    with app.app_context():
        enqueue(sweep_outbox, job_id="stuck")
        assert run_jobs() == 1  # finished: the id is still taken while its result is kept
        assert enqueue(sweep_outbox, job_id="stuck") is None
        assert enqueue(sweep_outbox, job_id="stuck", replace_idle=True) is not None
        assert get_queue().job_ids == ["stuck"]
        assert enqueue(sweep_outbox, job_id="stuck", replace_idle=True) is None  # waiting its turn: kept
        get_queue().remove("stuck")  # a dead worker took it off the queue: "queued", but in no queue
        assert enqueue(sweep_outbox, job_id="stuck", replace_idle=True) is not None
        assert get_queue().job_ids == ["stuck"]
        job = get_queue().fetch_job("stuck")
        job.set_status("started")  # as if a worker were running it right now
        assert enqueue(sweep_outbox, job_id="stuck", replace_idle=True) is None


def test_worker_waits_out_a_redis_outage_and_then_works_on(app, redis_server, redis_url):
    conn = connect_for_worker(redis_url)
    attempts = 0
    made: list[HongguanSimpleWorker] = []

    def make_worker() -> HongguanSimpleWorker:
        nonlocal attempts
        attempts += 1
        worker = HongguanSimpleWorker(list(QUEUES), connection=conn, app=app)  # needs Redis
        made.append(worker)
        # The worker is up: stop it as a process manager would, once it is inside its loop.
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
        return worker

    redis_server.stop()  # Redis is down when the worker starts
    threading.Timer(1.0, redis_server.start).start()
    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        work_through_outages(make_worker, conn)
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])
    assert attempts == 2  # the first could not reach Redis; the second started once Redis answered
    assert len(made) == 1
    assert made[0].stop_asked  # and only a stop request ended the loop
    assert conn.ping()


def test_wait_for_redis_returns_once_redis_answers_again(redis_server, redis_url):
    conn = connect_for_worker(redis_url)
    redis_server.stop()
    with pytest.raises(RedisError):
        conn.ping()
    threading.Timer(0.5, redis_server.start).start()
    wait_for_redis(conn, first=0.05, maximum=0.2)
    assert conn.ping()
