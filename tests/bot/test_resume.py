"""A stored message whose RQ job was lost after the relay enqueued it is still handled, exactly once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot import menu
from bot.inbound import job_id_for
from infra.web import db_session, get_redis
from jobs.inbound import STUCK_AFTER, resume_stuck
from jobs.queue import get_queue
from jobs.relay import relay_inbound
from models import Appeal, InboundMessage


def test_a_message_whose_job_was_lost_is_resumed_by_the_sweep(app, wx, session, clock):
    assert wx.say("小区门口的垃圾桶倒了，垃圾撒了一地") == menu.ACK_QUEUED
    inbound_id = session.scalar(select(InboundMessage.id))
    with app.app_context():
        assert relay_inbound(db_session(), get_redis()) == 1
        queue = get_queue()
        assert queue.job_ids == [job_id_for(inbound_id)]
        queue.remove(job_id_for(inbound_id))  # lost: off the queue, but its id still taken (a worker died)
        assert wx.run_jobs() == 0
        assert resume_stuck() == 0  # too early to call it stuck
        clock.advance(STUCK_AFTER + timedelta(minutes=1))
        assert resume_stuck() == 1
    wx.run_jobs()
    session.expire_all()
    assert session.scalar(select(InboundMessage.status)) == "handled"
    assert session.scalar(select(func.count()).select_from(Appeal)) == 1
    number = session.scalar(select(Appeal.number))
    assert any(number in answer for answer in wx.answers())
    with app.app_context():
        assert resume_stuck() == 0  # handled: nothing left to resume
