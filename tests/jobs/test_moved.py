"""Jobs stored under a job function's old dotted path (in Redis, or in the outbox table) still run."""

from __future__ import annotations

import importlib

from rq.job import Job, JobStatus
from sqlalchemy import select

from infra.web import get_redis
from jobs.moved import MOVED_MODULES, resolve
from jobs.outbox import sweep_outbox
from jobs.queue import get_queue
from models import PendingJob, RankingSnapshot

OLD_PATH = "jobs.reports.monthly_ranking"  # where the monthly red/black list job lived before jobs.appeals


def test_every_moved_module_resolves_to_an_importable_function_home():
    for old, new in MOVED_MODULES.items():
        module = importlib.import_module(new)
        assert module.__name__ == new
        assert resolve(f"{old}.some_job") == f"{new}.some_job"
    assert resolve("jobs.appeals.tick") == "jobs.appeals.tick"
    assert resolve(OLD_PATH) == "jobs.appeals.monthly_ranking"


def test_a_job_in_redis_under_the_old_path_runs(app, session, run_jobs):
    with app.app_context():
        # Enqueued by a release before the move: RQ stored the old dotted path as the job's func_name.
        job = get_queue("low").enqueue(OLD_PATH, job_id="cron-ranking-before-the-move")
        assert Job.fetch(job.id, connection=get_redis()).func_name == OLD_PATH
    assert run_jobs() == 1
    with app.app_context():
        assert Job.fetch(job.id, connection=get_redis()).get_status() == JobStatus.FINISHED
    session.expire_all()
    assert len(list(session.scalars(select(RankingSnapshot)))) == 1


def test_an_outbox_row_under_the_old_path_runs(app, session, run_jobs):
    session.add(PendingJob(job_id="ranking-from-the-outbox", func=OLD_PATH, args=[], kwargs={}, queue="low"))
    session.commit()
    with app.app_context():
        assert sweep_outbox() == 1
    assert run_jobs() == 1
    session.expire_all()
    assert len(list(session.scalars(select(RankingSnapshot)))) == 1
