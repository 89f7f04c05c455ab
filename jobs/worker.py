"""RQ workers that run every job inside its own Flask app context (fresh DB session, closed after the job)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.queue import Queue


class _AppContextMixin:
    """Push a new app context around each job so `db_session()` is per job and torn down after it."""

    app: Flask

    def perform_job(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> bool:
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


class HongguanSimpleWorker(_AppContextMixin, SimpleWorker):
    """The worker `hongguan worker` runs: jobs run in the worker's own process, one after another, reusing its
    connections, the loaded classifier and the WeChat token. Job timeouts still hold (SIGALRM); a worker killed
    mid-job leaves that job's row undone, and the scheduler's sweeps hand it to RQ again under the same id."""

    def __init__(self, *args: Any, app: Flask, **kwargs: Any) -> None:
        self.app = app
        super().__init__(*args, **kwargs)
