"""jobs/inbound.py: the job for a resident's message answers the resident itself (one job per message; a failed
answer goes to RQ for its retries, never lost or sent twice), and a follower's profile fetch keeps the unionid."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from rq.registry import FinishedJobRegistry
from sqlalchemy import select

from bot import menu
from bot.inbound import job_id_for
from infra import clock as clock_module
from jobs.inbound import batch_job_id_for, process_inbound_batch, sync_profile
from jobs.queue import get_queue
from models import InboundMessage, Resident
from models.outbox import PendingJob
from services.notifications.notify import STAFF_JOB
from wechat.chat import FakeWeChat

CUSTOM = "/cgi-bin/message/custom/send"
OPENID = "oResidentInline00000000001"


@pytest.fixture
def resident_says(app, client, clock, org):
    """Send free text as a resident (AES mode, through the real webhook); returns the driver."""
    cfg = app.config
    fake = FakeWeChat(cfg["WECHAT_TOKEN"], cfg["WECHAT_AES_KEY"], cfg["WECHAT_APPID"], OPENID,
                      account_id=cfg["WECHAT_ACCOUNT_ID"])  # fmt: skip

    def say(text: str) -> None:
        clock_module.advance(timedelta(seconds=1))
        params, body = fake.push(fake.command(text))
        resp = client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml")
        assert resp.status_code == 200
        assert fake.read_reply(resp.get_data(as_text=True))["Content"] == menu.ACK_QUEUED

    return say


def _answer_rows(session) -> list[PendingJob]:
    session.expire_all()
    return [r for r in session.scalars(select(PendingJob)) if r.func == "jobs.notifications.deliver_to_resident"]


def test_the_answer_is_sent_by_the_message_job_itself(app, session, sandbox, run_jobs, resident_says):
    resident_says("小区门口的垃圾好几天没人清理了")
    run_jobs()
    texts = [s["body"]["text"]["content"] for s in sandbox.sent(OPENID, "custom")]
    assert len(texts) == 1
    assert "诉求" in texts[0]
    with app.app_context():
        finished = FinishedJobRegistry(queue=get_queue("default")).get_job_ids()
    assert any(j.startswith("inbound-") for j in finished)
    assert not [j for j in finished if j.startswith("notify-resident")]  # no second job for the answer
    (row,) = _answer_rows(session)
    assert row.enqueued_at is not None  # done: nothing left for the sweeper


def test_an_answer_that_fails_in_place_goes_to_rq_and_is_sent_once(app, session, sandbox, run_jobs, resident_says):
    sandbox.fail(CUSTOM, status=503)  # WeChat answers 503 to the first call only
    resident_says("小区门口的垃圾好几天没人清理了")
    run_jobs()
    assert len(sandbox.calls(CUSTOM)) == 2  # the failed call in place, then RQ's run of the handed-over job
    assert len(sandbox.sent(OPENID, "custom")) == 1
    with app.app_context():
        finished = FinishedJobRegistry(queue=get_queue("default")).get_job_ids()
    (row,) = _answer_rows(session)
    assert row.job_id in finished  # RQ ran it under the outbox row's own id
    run_jobs()
    assert len(sandbox.sent(OPENID, "custom")) == 1


FOLLOWER = "oFollowerWithUnion00000000001"


def test_the_profile_fetch_keeps_the_followers_unionid(app, session, sandbox):
    session.add_all([Resident(openid=FOLLOWER, subscribed=True), Resident(openid="oFollowerNoUnion", subscribed=True)])
    session.commit()
    sandbox.set_unionid(FOLLOWER, "ounion-follower-1")
    with app.app_context():
        for resident_id in session.scalars(select(Resident.id).order_by(Resident.id)).all():
            assert sync_profile(resident_id) == "ok"
    session.expire_all()
    rows = session.execute(select(Resident.openid, Resident.unionid).order_by(Resident.id)).all()
    assert [tuple(r) for r in rows] == [(FOLLOWER, "ounion-follower-1"), ("oFollowerNoUnion", None)]


def _residents_say(app, client, texts: list[str]) -> list[str]:
    """Free text from one new resident per text, stored by the real webhook (AES mode); returns the openids."""
    cfg = app.config
    openids = []
    for i, text in enumerate(texts):
        openid = f"oBatchResident{i:012d}"
        fake = FakeWeChat(cfg["WECHAT_TOKEN"], cfg["WECHAT_AES_KEY"], cfg["WECHAT_APPID"], openid,
                          account_id=cfg["WECHAT_ACCOUNT_ID"])  # fmt: skip
        params, body = fake.push(fake.command(text))
        resp = client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml")
        assert resp.status_code == 200
        assert fake.read_reply(resp.get_data(as_text=True))["Content"] == menu.ACK_QUEUED
        openids.append(openid)
    return openids


TEXTS = ["小区门口的垃圾好几天没人清理了", "3栋楼道的灯坏了好几天", "楼下烧烤店每天半夜很吵", "电梯又坏了停在8楼",
         "路灯不亮了", "有人在绿化带停车"]  # fmt: skip


def test_a_backlog_is_handled_in_batches_that_answer_every_resident_once(app, client, session, sandbox, org, run_jobs):
    openids = _residents_say(app, client, TEXTS)
    run_jobs()
    with app.app_context():
        finished = [j for q in ("urgent", "default") for j in FinishedJobRegistry(queue=get_queue(q)).get_job_ids()]
    assert [j for j in finished if j.startswith("inbound-")] == [batch_job_id_for(_ids(session))]  # one job
    assert not [j for j in finished if j.startswith("notify-")]  # the answers and staff alerts went in place
    assert [len(sandbox.sent(o, "custom")) for o in openids] == [1] * len(TEXTS)
    assert _statuses(session) == ["handled"] * len(TEXTS)
    staff_alerts = [r for r in _pending(session) if r.func == STAFF_JOB]
    assert staff_alerts, "the appeals reached staff on duty"
    assert all(r.enqueued_at is not None for r in staff_alerts)  # sent in place: nothing left for the sweeper
    assert len(sandbox.sent(kind="template")) == len(staff_alerts)


def test_a_poisoned_message_in_a_batch_does_not_hold_up_the_others(app, client, session, sandbox, org, run_jobs):
    openids = _residents_say(app, client, TEXTS[:3])
    ids = _ids(session)
    # A stored push the handler cannot take (no sender): it raises every time it is handled.
    poisoned = session.get(InboundMessage, ids[1])
    poisoned.body = poisoned.body.replace(f"<![CDATA[{openids[1]}]]>", "<![CDATA[]]>")
    session.commit()
    with app.app_context():
        assert process_inbound_batch(ids) == "1 failed, 2 handled"
        # It went to RQ as a job of its own, with the usual retries; the others were answered.
        job = get_queue().fetch_job(job_id_for(ids[1]))
        assert job is not None
        assert job.args == (ids[1],)
        assert job.retries_left == 3
    assert _statuses(session) == ["handled", "failed", "handled"]
    assert [len(sandbox.sent(o, "custom")) for o in openids] == [1, 0, 1]
    row = session.get(InboundMessage, ids[1])
    assert row.attempts == 1
    assert "ValueError" in row.last_error
    with app.app_context():
        assert process_inbound_batch(ids) == "2 already handled, 1 failed"  # a retried batch sends nothing again
    assert [len(sandbox.sent(o, "custom")) for o in openids] == [1, 0, 1]


def _ids(session) -> list[int]:
    session.expire_all()
    return list(session.scalars(select(InboundMessage.id).order_by(InboundMessage.id)))


def _statuses(session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(InboundMessage.status).order_by(InboundMessage.id)))


def _pending(session) -> list[PendingJob]:
    session.expire_all()
    return list(session.scalars(select(PendingJob).order_by(PendingJob.id)))
