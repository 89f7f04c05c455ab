"""A real worker process is SIGKILLed while it works through an appeal's reminder ladder; after a restart every
step has happened exactly once (SQL rows are the truth, job ids are stable, each step claims its row).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from rq.intermediate_queue import IntermediateQueue
from rq.registry import FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import select

from infra import clock
from infra.web import db_session, get_redis
from jobs.appeals import STUCK_AFTER, tick
from jobs.inbound import STUCK_AFTER as INBOUND_STUCK_AFTER
from jobs.inbound import resume_stuck
from jobs.notifications import BROADCAST_STUCK_AFTER, resume_broadcasts
from jobs.outbox import commit_and_enqueue
from jobs.queue import QUEUES, get_queue
from jobs.relay import relay_inbound
from jobs.worker import HongguanSimpleWorker
from models import Appeal, AppealEvent, InboundMessage, OutboundMessage, Reminder, Resident
from services.appeals import workflow
from services.appeals.calendar import seed_calendar
from services.appeals.deadlines import seed_sla_policies
from services.appeals.records import create_appeal
from services.notices import announcements as notices
from wechat.chat import FakeWeChat


def _worker_env(app_config: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONGGUAN_")}
    for key in ("DATABASE_URL", "REDIS_URL", "INSTANCE_PATH", "WECHAT_API_BASE", "WECHAT_APPID", "WECHAT_SECRET",
                "MINIAPP_APPID", "MINIAPP_SECRET", "WECHAT_TOKEN", "WECHAT_AES_KEY", "WECHAT_ACCOUNT_ID"):  # fmt: skip
        env[f"HONGGUAN_{key}"] = str(app_config[key])
    return env


def _recover_as_rq_maintenance_would(app: Any, queues: list[Any]) -> None:
    """What RQ's own maintenance does minutes after a worker died, without waiting those minutes.

    A job the dead horse was running sits in StartedJobRegistry until the worker's heartbeat expires; a job the
    dead worker had dequeued but not started sits in the intermediate queue until it has been seen there for a
    minute. Both are then failed and, having retries left, scheduled again after their backoff.
    """
    worker = HongguanSimpleWorker(queues, connection=queues[0].connection, app=app)
    for q in queues:
        StartedJobRegistry(queue=q).cleanup(timestamp=time.time() + 3600)  # the heartbeat has expired
        intermediate = IntermediateQueue(q.key, connection=q.connection)
        for job_id in intermediate.get_job_ids():
            q.connection.set(intermediate.get_first_seen_key(job_id), time.time() - 120)  # seen a while ago
        intermediate.cleanup(worker, q)
        scheduled = ScheduledJobRegistry(queue=q)
        for job_id in scheduled.get_job_ids():  # the retries' backoff has passed
            job = q.fetch_job(job_id)
            scheduled.remove(job)
            q.enqueue_job(job)


@pytest.mark.slow
def test_reminder_ladder_survives_a_killed_worker(app, app_config, session, org, run_jobs):
    seed_calendar(session)
    seed_sla_policies(session)
    # Dispatch an urgent appeal two weeks ago (2 working hours to resolve), so by the real clock — which the
    # worker process uses — every step of its ladder is due.
    clock.freeze(datetime.now(UTC) - timedelta(days=14))
    try:
        appeal = create_appeal(session, resident=None, text="楼道里有人持续飞线充电", channel="staff")
        appeal.category, appeal.urgent = "fire_safety", True
        workflow.dispatch(session, appeal, actor=workflow.SYSTEM, handler_type="grid", grid_id=org.grids["G1"].id)
        session.commit()
    finally:
        clock.unfreeze()
    levels = {r.level for r in session.scalars(select(Reminder).where(Reminder.appeal_id == appeal.id))}
    assert {"remind_50", "remind_80", "overdue", "accept_overdue"} <= levels

    with app.app_context():
        assert tick() == len(levels - {"auto_close"})  # the steps are scheduled in RQ
        queues = [get_queue(q) for q in QUEUES]

        worker = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker"], env=_worker_env(app_config), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill it as soon as it has started on the ladder
            if any(StartedJobRegistry(queue=q).count or FinishedJobRegistry(queue=q).count for q in queues):
                break
            time.sleep(0.02)
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse, mid-flight
        worker.wait(10)

        # Minutes later: RQ's maintenance has retried what the dead worker abandoned (a job killed at just the
        # wrong instant is dropped by RQ instead), and the cron tick re-enqueues every step still unsent.
        _recover_as_rq_maintenance_would(app, queues)
        clock.freeze(datetime.now(UTC) + STUCK_AFTER + timedelta(minutes=1))
        try:
            tick()
        finally:
            clock.unfreeze()
        run_jobs()  # the restarted worker finishes the rest

    session.expire_all()
    rows = list(session.scalars(select(Reminder).where(Reminder.appeal_id == appeal.id)))
    assert all(r.sent_at is not None for r in rows if r.level != "auto_close"), [(r.level, r.sent_at) for r in rows]
    events = session.scalars(select(AppealEvent).where(AppealEvent.appeal_id == appeal.id))
    steps = Counter(
        f"{e.action}:{e.payload.get('step') or e.payload.get('kind') or e.payload.get('level')}"
        for e in events
        if e.action in ("remind", "overdue", "escalate")
    )
    # remind at 50 % and 80 %, the acceptance and the resolution deadlines missed, escalation to the grid
    # leader (level 1) and to the community secretary (level 2): each exactly once, kill or no kill.
    assert steps == Counter(
        {"remind:remind_50": 1, "remind:remind_80": 1, "overdue:accept": 1, "overdue:resolve": 1,
         "escalate:1": 1, "escalate:2": 1}
    )  # fmt: skip


@pytest.mark.slow
def test_a_killed_workers_batch_of_messages_is_resumed_and_nothing_is_sent_twice(
    app, app_config, client, session, org, sandbox
):
    cfg = app.config
    openids = [f"oKilledBatch{i:014d}" for i in range(12)]
    for i, openid in enumerate(openids):
        fake = FakeWeChat(cfg["WECHAT_TOKEN"], cfg["WECHAT_AES_KEY"], cfg["WECHAT_APPID"], openid,
                          account_id=cfg["WECHAT_ACCOUNT_ID"])  # fmt: skip
        params, body = fake.push(fake.command(f"{i}号楼门口的垃圾好几天没人清理了"))
        assert client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml").status_code == 200
    with app.app_context():
        assert relay_inbound(db_session(), get_redis()) == len(openids)
        queues = [get_queue(q) for q in QUEUES]
        assert queues[1].count == 2  # two batch jobs, of 10 and 2 messages
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker"], env=_worker_env(app_config), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill it as soon as it has handled a message of the first batch
            session.expire_all()
            if session.scalar(select(InboundMessage.id).where(InboundMessage.status == "handled").limit(1)):
                break
            time.sleep(0.01)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        session.expire_all()
        statuses = list(session.scalars(select(InboundMessage.status)))
        assert "handled" in statuses, statuses  # killed mid-way through the backlog
        assert "queued" in statuses, statuses

        # Minutes later RQ's maintenance retries the abandoned batch, and the stuck-message sweep hands every
        # message still unhandled to RQ on its own; whichever runs first, each message is handled once.
        _recover_as_rq_maintenance_would(app, queues)
        clock.freeze(datetime.now(UTC) + INBOUND_STUCK_AFTER + timedelta(minutes=1))
        try:
            resume_stuck()
        finally:
            clock.unfreeze()
        worker = HongguanSimpleWorker(queues, connection=get_redis(), app=app)
        worker.work(burst=True)

    session.expire_all()
    assert list(session.scalars(select(InboundMessage.status))) == ["handled"] * len(openids)
    sent = sandbox.sent
    # One answer per resident. The message the kill cut off inside its WeChat call may be left unanswered:
    # WeChat may have taken it, so it is never sent again (a delivery counted as uncertain, not doubled).
    counts = [len(sent(o, "custom")) for o in openids]
    assert max(counts) == 1, counts
    assert counts.count(0) <= 1, counts
    appeals = Counter(session.scalars(select(Appeal.inbound_message_id)))
    assert all(n == 1 for n in appeals.values())


@pytest.mark.slow
def test_a_killed_workers_broadcast_is_resumed_and_no_resident_gets_it_twice(app, app_config, session, org, sandbox):
    # 350 followers outside the 48 h window: four chunks of template messages.
    openids = [f"oBroadcastKill{i:06d}" for i in range(350)]
    session.add_all(Resident(openid=o, subscribed=True, community_id=org.community.id) for o in openids)
    session.commit()
    with app.app_context():
        notice = notices.publish(
            session, org.staff["secretary"], title="燃气管道抢修", body="今晚停气", urgent=True,
            published_at=clock.now(),
        )  # fmt: skip
        commit_and_enqueue(session)
        queues = [get_queue(q) for q in QUEUES]
        assert queues[2].count == 4  # one job per chunk of recipients, on the `low` queue
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker"], env=_worker_env(app_config), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(sandbox.sent(kind="template")) < 30:  # mid-way through chunk 1
            time.sleep(0.005)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        assert 0 < len(sandbox.sent(kind="template")) < len(openids)  # killed with most of the broadcast to go

        # RQ's maintenance retries the abandoned chunk; a chunk it dropped instead is resumed by the sweep.
        _recover_as_rq_maintenance_would(app, queues)
        clock.freeze(datetime.now(UTC) + BROADCAST_STUCK_AFTER + timedelta(minutes=1))
        try:
            resume_broadcasts()
        finally:
            clock.unfreeze()
        HongguanSimpleWorker(queues, connection=get_redis(), app=app).work(burst=True)

    counts = Counter(s["touser"] for s in sandbox.sent(kind="template"))
    assert max(counts.values()) == 1, counts.most_common(3)  # nobody got the notice twice
    # Everyone got it, except at most the one whose call the kill cut off: WeChat may have taken that one, so it
    # is never sent again (uncertain, not doubled).
    assert len(set(openids) - set(counts)) <= 1
    session.expire_all()
    statuses = Counter(
        session.scalars(
            select(OutboundMessage.status).where(OutboundMessage.idempotency_key.like(f"%:notice:{notice.id}"))
        )
    )
    assert statuses["sent"] >= len(openids) - 1
    assert statuses["sent"] + statuses["uncertain"] + statuses["sending"] == len(openids)
