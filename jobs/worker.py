"""RQ workers that run every job inside its own Flask app context (fresh DB session, closed after the job), and
the loops that keep the worker and the cron scheduler running through a Redis outage."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq.cron import CronScheduler
from rq.exceptions import StopRequested
from rq.job import Job
from rq.queue import Queue

from jobs.leader import LeadershipLost, SchedulerLease
from jobs.moved import resolve
from nlp import classifier

log = logging.getLogger(__name__)


class _AppContextMixin:
    """Push a new app context around each job so `db_session()` is per job and torn down after it."""

    app: Flask
    stop_asked: bool = False  # SIGTERM/SIGINT arrived (RQ's own flag is set only when a job was running)

    def request_stop(self, signum: Any, frame: Any) -> None:
        self.stop_asked = True
        super().request_stop(signum, frame)  # type: ignore[misc]

    def perform_job(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> bool:
        # A job stored in Redis before its function moved names the old module: run the function where it is now.
        if job.func_name is not None and job.instance is None:
            job.func_name = resolve(job.func_name)
        # RQ 3 passes an Execution too; forward whatever the installed RQ passes.
        with self.app.app_context():
            return super().perform_job(job, queue, *args, **kwargs)  # type: ignore[misc]


class HongguanWorker(_AppContextMixin, Worker):
    """A worker that forks a work horse per job: a job that crashes the interpreter or leaks memory takes only
    its horse with it. The fork, and the horse's fresh connections to the database and Redis, cost about 35 ms
    a job on two cores, four times what handling a resident's message costs, so `hongguan worker` uses it only
    with `--fork`."""

    def __init__(self, *args: Any, app: Flask, **kwargs: Any) -> None:
        self.app = app
        super().__init__(*args, **kwargs)

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        # Horses inherit the classifier in service: checking the installed model file here, in the parent, loads
        # a newly installed model once rather than in every horse that follows.
        classifier.default_classifier()
        super().fork_work_horse(job, queue)


class HongguanSimpleWorker(_AppContextMixin, SimpleWorker):
    """The worker `hongguan worker` runs: jobs run in the worker's own process, one after another, reusing its
    connections, the loaded classifier and the WeChat token. Job timeouts still hold (SIGALRM); a worker killed
    mid-job leaves that job's row undone, and the scheduler's sweeps hand it to RQ again under the same id."""

    def __init__(self, *args: Any, app: Flask, **kwargs: Any) -> None:
        self.app = app
        super().__init__(*args, **kwargs)


# Waiting for Redis after an outage: 0.5 s, then doubling up to 10 s between attempts. A restarted Redis is
# found within 10 s; a long outage costs one PING per 10 s.
RECONNECT_FIRST = 0.5
RECONNECT_MAX = 10.0


def wait_for_redis(connection: Redis, *, first: float = RECONNECT_FIRST, maximum: float = RECONNECT_MAX) -> None:
    """Block until `connection` answers PING, sleeping with exponential backoff between attempts."""
    delay = first
    while True:
        try:
            connection.ping()
            return
        except RedisError as e:
            log.warning("Redis unreachable (%s: %s); next attempt in %.1f s", type(e).__name__, e, delay)
        time.sleep(delay)
        delay = min(delay * 2, maximum)


def work_through_outages(make_worker: Callable[[], Worker], connection: Redis, *, burst: bool = False) -> None:
    """Run workers until one stops on request (SIGTERM/SIGINT) or finishes a burst, riding out Redis outages.

    RQ's worker retries only its dequeue with backoff; a Redis error anywhere else in its loop (heartbeat,
    maintenance, finishing a job) makes it log "unhandled exception, quitting" and return. Then this waits
    for Redis and starts a new worker, so an outage pauses the jobs instead of ending the process.
    """
    while True:
        worker: Worker | None = None
        try:
            worker = make_worker()  # RQ reads the server's version here: this too needs Redis
            worker.work(with_scheduler=True, burst=burst)
        except RedisError as e:  # from its start-up (registering) or its teardown, outside RQ's own loop
            log.warning("worker: Redis error %s: %s", type(e).__name__, e)
        if burst or getattr(worker, "stop_asked", False):
            return
        log.warning("worker stopped without being asked to; starting a new one once Redis answers")
        try:
            wait_for_redis(connection)
        except StopRequested:
            return


def cron_through_outages(
    make_scheduler: Callable[[], CronScheduler], connection: Redis, lease: SchedulerLease | None = None
) -> None:
    """Run RQ's cron scheduler until it is stopped, waiting out Redis outages (its loop ends on any error).

    With a `lease`, the schedule runs only while this process holds it (jobs/leader.py): it waits for the lease
    first, and goes back to waiting when another scheduler has taken it over.
    """
    try:
        while True:
            try:
                if lease is not None:
                    lease.wait()
                make_scheduler().start()  # returns on SIGTERM/SIGINT
                return
            except LeadershipLost as e:
                log.warning("cron scheduler: %s; waiting for the lease again", e)
                continue
            except RedisError as e:
                log.warning("cron scheduler: Redis error %s: %s; restarting once Redis answers", type(e).__name__, e)
            try:
                wait_for_redis(connection)
            except (StopRequested, KeyboardInterrupt):
                return
    except KeyboardInterrupt:  # Ctrl-C while waiting for the lease
        return
    finally:
        if lease is not None:
            lease.release()
