"""jobs/inbound.py: the job for a resident's message answers the resident itself (one job per message; a failed
answer goes to RQ for its retries, never lost or sent twice), and a follower's profile fetch keeps the unionid."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from rq.registry import FinishedJobRegistry
from sqlalchemy import select

from bot import menu
from infra import clock as clock_module
from jobs.inbound import sync_profile
from jobs.queue import get_queue
from models import Resident
from models.outbox import PendingJob
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
