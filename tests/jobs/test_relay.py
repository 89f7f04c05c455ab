"""The inbound relay hands stored messages to RQ once each, off the request path, and survives outages."""

from __future__ import annotations

import itertools
import time
from urllib.parse import urlencode

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from bot import menu
from bot.inbound import JOB, job_id_for
from infra.web import db_session, get_redis
from jobs import relay
from jobs.queue import enqueue, get_queue
from models import InboundMessage
from wechat.chat import FakeWeChat

_senders = itertools.count(1)


def say(app: Flask, client: FlaskClient, text: str) -> str | None:
    """Post one text message, encrypted as WeChat sends it, from a new resident; return the passive reply."""
    cfg = app.config
    fake = FakeWeChat(
        cfg["WECHAT_TOKEN"], cfg["WECHAT_AES_KEY"], cfg["WECHAT_APPID"], f"oRelayTest{next(_senders):017d}",
        account_id=cfg["WECHAT_ACCOUNT_ID"],
    )  # fmt: skip
    params, body = fake.push(fake.command(text))
    resp = client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml")
    assert resp.status_code == 200
    reply = fake.read_reply(resp.get_data(as_text=True))
    return None if reply is None else reply.get("Content")


def _queued(session) -> list[tuple[int, object]]:
    session.expire_all()
    return list(session.execute(select(InboundMessage.id, InboundMessage.enqueued_at).order_by(InboundMessage.id)))


def test_relay_hands_each_queued_message_to_rq_once(app, client, session):
    for text in ("楼下的路灯不亮了", "垃圾站三天没有清运", "井盖松动了"):
        assert say(app, client, text) == menu.ACK_QUEUED
    assert [at for _, at in _queued(session)] == [None, None, None]
    with app.app_context():
        assert get_queue().job_ids == []  # the webhook stored them and enqueued nothing
        assert relay.relay_inbound(db_session(), get_redis(), limit=2, per_job=1) == 2  # rounds of `limit`
        assert relay.relay_inbound(db_session(), get_redis(), limit=2, per_job=1) == 1
        assert relay.relay_inbound(db_session(), get_redis()) == 0
        ids = [i for i, _ in _queued(session)]
        assert get_queue().job_ids == [job_id_for(i) for i in ids]
        job = get_queue().fetch_job(job_id_for(ids[0]))
        assert job.func_name == JOB
        assert job.args == (ids[0],)
        assert job.retries_left == 3  # the same retry policy as every other job
    assert all(at is not None for _, at in _queued(session))


def test_a_job_rq_already_holds_is_not_enqueued_twice(app, client, session):
    assert say(app, client, "楼下的路灯不亮了") == menu.ACK_QUEUED
    [(inbound_id, _)] = _queued(session)
    with app.app_context():
        # As after a crash between the enqueue and the mark, or with a second relay running.
        enqueue(JOB, inbound_id, job_id=job_id_for(inbound_id))
        assert relay.relay_inbound(db_session(), get_redis()) == 1
        assert get_queue().job_ids == [job_id_for(inbound_id)]
        assert get_queue().count == 1
    assert _queued(session)[0][1] is not None


def test_only_queued_unrelayed_rows_are_handed_over(app, client, session, run_jobs):
    assert say(app, client, "楼下的路灯不亮了") == menu.ACK_QUEUED
    run_jobs()  # relays and handles it
    session.execute(update(InboundMessage).values(enqueued_at=None))  # even unmarked, a handled row stays put
    session.commit()
    with app.app_context():
        assert relay.relay_inbound(db_session(), get_redis()) == 0
        assert get_queue().job_ids == []


def test_the_relay_thread_picks_up_a_message_within_its_interval(app, client, session):
    stop = relay.start(app, interval=0.05)
    try:
        assert say(app, client, "楼下的路灯不亮了") == menu.ACK_QUEUED
        [(inbound_id, _)] = _queued(session)
        deadline = time.monotonic() + 10
        with app.app_context():
            while get_queue().job_ids != [job_id_for(inbound_id)] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert get_queue().job_ids == [job_id_for(inbound_id)]
    finally:
        stop()
    assert _queued(session)[0][1] is not None


def test_the_relay_thread_keeps_going_through_a_redis_outage(app, client, session, redis_server, caplog):
    redis_server.stop()
    stop = relay.start(app, interval=0.05)
    try:
        assert say(app, client, "楼下的路灯不亮了") == menu.ACK_QUEUED  # answered and stored while Redis is down
        deadline = time.monotonic() + 10
        while "inbound relay" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "inbound relay: ConnectionError" in caplog.text
        assert _queued(session)[0][1] is None
        redis_server.start()
        deadline = time.monotonic() + 10
        while _queued(session)[0][1] is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop()
    [(inbound_id, enqueued_at)] = _queued(session)
    assert enqueued_at is not None
    with app.app_context():
        assert get_queue().job_ids == [job_id_for(inbound_id)]
