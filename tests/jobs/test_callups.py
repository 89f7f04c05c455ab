"""The call-up send as RQ jobs: one notification per (call-up, person); a real worker SIGKILLed mid-send and
resumed reaches every person exactly once in the sandbox's record, including the person whose delivery job the
worker had popped but not yet started; sends over the per-minute cap are retried."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rq.intermediate_queue import IntermediateQueue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import func, insert, select

from infra import clock
from jobs import callups as callup_jobs
from jobs import notifications as notification_jobs
from jobs.outbox import sweep_outbox
from jobs.queue import QUEUES, get_queue
from jobs.worker import HongguanSimpleWorker
from models import OutboundMessage, Resident
from services.notifications import notify
from services.volunteering import callups, send
from services.volunteering.callups import ShiftSpec

TEMPLATE = "/cgi-bin/message/template/send"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The notice template configured, so followers outside the 48 h window get a template message."""
    return {**app_config, "WECHAT_TEMPLATE_NOTICE": "tpl-notice"}


def _callup_for(session: Any, org: Any, people: int) -> int:
    session.execute(
        insert(Resident),
        [{"name": f"志愿者{i}", "openid": f"o-callup-{i:05d}", "subscribed": True, "is_volunteer": True,
          "community_id": org.community.id, "grid_id": org.grids["G1"].id} for i in range(people)],
    )  # fmt: skip
    start = clock.now() + timedelta(days=2)
    c = callups.create_callup(
        session, org.staff["community_staff"].id, community_id=org.community.id, title="冬季扫雪倡议",
        shifts=[ShiftSpec("中心广场", start, start + timedelta(hours=2), 50)], audience={"volunteers": True},
        signup_closes_at=start,
    )  # fmt: skip
    session.commit()
    return c.id


def _worker_env(app_config: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONGGUAN_")}
    for key in ("DATABASE_URL", "REDIS_URL", "INSTANCE_PATH", "WECHAT_API_BASE", "WECHAT_APPID", "WECHAT_SECRET",
                "MINIAPP_APPID", "MINIAPP_SECRET", "WECHAT_TOKEN", "WECHAT_AES_KEY", "WECHAT_ACCOUNT_ID",
                "WECHAT_TEMPLATE_NOTICE"):  # fmt: skip
        env[f"HONGGUAN_{key}"] = str(app_config[key])
    return env


def _recover_as_rq_maintenance_would(app: Any, queues: list[Any]) -> None:
    """What RQ's maintenance does minutes after a worker died: abandoned jobs are failed and, with retries
    left, scheduled again; the retries' backoff is then over."""
    worker = HongguanSimpleWorker(queues, connection=queues[0].connection, app=app)
    for q in queues:
        StartedJobRegistry(queue=q).cleanup(timestamp=time.time() + 3600)
        intermediate = IntermediateQueue(q.key, connection=q.connection)
        for job_id in intermediate.get_job_ids():
            q.connection.set(intermediate.get_first_seen_key(job_id), time.time() - 120)
        intermediate.cleanup(worker, q)
        scheduled = ScheduledJobRegistry(queue=q)
        for job_id in scheduled.get_job_ids():
            job = q.fetch_job(job_id)
            scheduled.remove(job)
            q.enqueue_job(job)


def test_sending_twice_records_one_notification_per_person(app, session, org, clock, run_jobs, sandbox):
    callup_id = _callup_for(session, org, 450)  # more than two batches
    assert send.start_send(session, callup_id, org.staff["community_staff"].id) == 450
    session.commit()
    with app.app_context():
        assert callup_jobs.send_callup(callup_id) == 450
        assert callup_jobs.send_callup(callup_id) == 0  # everyone is queued: a second run does nothing
    send.start_send(session, callup_id, org.staff["community_staff"].id)  # sent again from the console
    session.commit()
    with app.app_context():
        sweep_outbox()
    run_jobs()
    per_person = Counter(s["touser"] for s in sandbox.sent())
    assert len(per_person) == 450
    assert set(per_person.values()) == {1}
    p = send.progress(session, callup_id)
    assert (p.recipients, p.queued, p.sent, p.failed, p.uncertain) == (450, 450, 450, 0, 0)
    session.rollback()


def test_sends_over_the_per_minute_cap_are_retried_until_everyone_is_reached(
    app, session, org, clock, run_jobs, sandbox
):
    callup_id = _callup_for(session, org, 30)
    sandbox.limit(per_minute={TEMPLATE: 20})
    send.start_send(session, callup_id, org.staff["community_staff"].id)
    session.commit()
    with app.app_context():
        sweep_outbox()
    run_jobs()
    assert len(sandbox.sent()) == 20
    assert send.progress(session, callup_id).failed == 10  # 45011: recorded, and RQ retries them later
    session.rollback()
    sandbox.advance(61)  # the next minute
    with app.app_context():
        _recover_as_rq_maintenance_would(app, [get_queue(q) for q in QUEUES])
    run_jobs()
    assert Counter(s["touser"] for s in sandbox.sent()) == Counter({f"o-callup-{i:05d}": 1 for i in range(30)})
    assert send.progress(session, callup_id).sent == 30
    session.rollback()


class _KilledRightAfterDequeue(HongguanSimpleWorker):
    """A worker killed the moment RQ has popped a job off its queue, before it records the job as started.

    Listening on several queues, RQ pops with BLPOP/LPOP (no intermediate queue) and only then adds the job to the
    StartedJobRegistry; a SIGKILL between the two leaves the job "queued" in no queue and no registry.
    """

    def execute_job(self, job: Any, queue: Any) -> None:
        raise SystemExit("killed")  # the worker's teardown then touches only its own registration


class _KilledBeforeTheJobStarts(_KilledRightAfterDequeue):
    """A worker killed after RQ added the job to the StartedJobRegistry but before it marked the job started: the
    registry's cleanup drops such an entry without a retry (only a job still "started" counts as abandoned)."""

    def execute_job(self, job: Any, queue: Any) -> None:
        HongguanSimpleWorker.execute_job(self, job, queue)

    def perform_job(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> bool:
        assert job.id in StartedJobRegistry(queue=queue).get_job_ids(cleanup=False)
        raise SystemExit("killed")


@pytest.mark.parametrize("killed_worker", [_KilledRightAfterDequeue, _KilledBeforeTheJobStarts])
def test_a_delivery_popped_by_a_worker_killed_before_starting_it_still_reaches_its_person(
    app, session, org, clock, run_jobs, sandbox, killed_worker
):
    people = 5
    callup_id = _callup_for(session, org, people)
    send.start_send(session, callup_id, org.staff["community_staff"].id)
    session.commit()
    with app.app_context():
        sweep_outbox()
        queues = [get_queue(q) for q in QUEUES]
        default = get_queue("default")
        HongguanSimpleWorker(queues, connection=default.connection, app=app).work(burst=True, max_jobs=1)
        session.rollback()
        assert send.progress(session, callup_id).queued == people  # the send ran: everyone's delivery is queued
        popped = default.get_job_ids()[0]
        with pytest.raises(SystemExit):
            killed_worker(queues, connection=default.connection, app=app).work(burst=True)
        assert not sandbox.sent()

        # Minutes later: RQ's maintenance and the cron sweeps run, then a worker works through the queues.
        _recover_as_rq_maintenance_would(app, queues)
        lost = default.fetch_job(popped)  # RQ's maintenance did not bring it back
        assert lost is not None
        assert (lost.get_status(), lost.get_position()) == ("queued", None)
        assert popped not in StartedJobRegistry(queue=default).get_job_ids(cleanup=False)
        assert popped not in ScheduledJobRegistry(queue=default)
        clock.advance(notify.LOST_AFTER + timedelta(seconds=5))
        callup_jobs.resume_sends()
        sweep_outbox()
        assert notification_jobs.resume_lost_deliveries() == 1
        assert notification_jobs.resume_lost_deliveries() == 0  # handed over once: it now waits in its queue
    run_jobs()

    assert Counter(s["touser"] for s in sandbox.sent()) == Counter({f"o-callup-{i:05d}": 1 for i in range(people)})
    session.rollback()
    assert send.progress(session, callup_id).sent == people
    with app.app_context():
        assert notification_jobs.resume_lost_deliveries() == 0  # everyone's notification is settled
    session.rollback()


@pytest.mark.slow
def test_a_worker_killed_mid_send_then_resumed_reaches_everyone_exactly_once(
    app, app_config, session, org, run_jobs, sandbox
):
    people = 600
    callup_id = _callup_for(session, org, people)
    send.start_send(session, callup_id, org.staff["community_staff"].id)
    session.commit()  # recorded in the outbox; the worker's first job is the sweeper's hand-over below
    # Every template call answers a little late, so the kill lands while calls are in flight.
    sandbox.fail(TEMPLATE, delay_after=0.01, times=None)
    with app.app_context():
        sweep_outbox()
        queues = [get_queue(q) for q in QUEUES]
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker"], env=_worker_env(app_config), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(sandbox.calls(TEMPLATE)) < people // 5:
            time.sleep(0.02)
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse, mid-send
        worker.wait(10)
        reached_before = len({s["touser"] for s in sandbox.sent()})
        assert 0 < reached_before < people  # killed part-way

        # Minutes later (within WeChat's 10-minute client_msg_id dedupe): RQ's maintenance retries what the
        # dead worker abandoned, the resume tick re-enqueues the send, and a restarted worker finishes.
        with sandbox.state.lock:
            sandbox.state.faults.pop(TEMPLATE, None)
        _recover_as_rq_maintenance_would(app, queues)
        # The cron sweeps then find what RQ cannot: a delivery job the worker had popped but not yet started.
        stuck = max(send.STUCK_AFTER, notify.IN_FLIGHT_STALE, notify.LOST_AFTER)
        clock.freeze(datetime.now(UTC) + stuck + timedelta(seconds=5))
        try:
            callup_jobs.resume_sends()
            sweep_outbox()
            notification_jobs.resume_lost_deliveries()
            run_jobs()
        finally:
            clock.unfreeze()

    per_person = Counter(s["touser"] for s in sandbox.sent())
    assert len(per_person) == people  # everyone reached …
    assert max(per_person.values()) == 1  # … and nobody twice
    session.expire_all()
    keyed = session.scalar(
        select(func.count())
        .select_from(OutboundMessage)
        .where(OutboundMessage.related_type == "callup", OutboundMessage.idempotency_key.is_not(None))
    )
    assert keyed == people  # one delivery row per (call-up, person)
    session.rollback()
