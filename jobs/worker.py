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
    """The production worker: forks a work horse per job (isolation and hard timeouts)."""

    def __init__(self, *args: Any, app: Flask, **kwargs: Any) -> None:
        self.app = app
        super().__init__(*args, **kwargs)


class HongguanSimpleWorker(_AppContextMixin, SimpleWorker):
    """A non-forking worker for tests and benchmarks."""

    def __init__(self, *args: Any, app: Flask, **kwargs: Any) -> None:
        self.app = app
        super().__init__(*args, **kwargs)
