"""Delivery jobs against the sandbox: channel choice, 45015 fallback, retries, grants, idempotency; tokens."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from infra import clock as clock_module
from infra.web import get_redis
from jobs.notifications import (
    BROADCAST_STUCK_AFTER,
    deliver_to_resident,
    deliver_to_residents,
    deliver_to_staff,
    resume_broadcasts,
)
from jobs.outbox import commit_and_enqueue
from jobs.queue import get_queue
from jobs.tokens import refresh_access_tokens
from models import OutboundMessage, PendingJob, Resident
from services.notifications import notify
from wechat.client import DeliveryUncertain, WeChatAPIError, WeChatUnavailable, oa_client

CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"


def add_resident(session, **kw):
    """Create a resident; returns plain (id, openid) so later reads never reopen the test's transaction."""
    values = {"openid": "oResidentJob01", "subscribed": True} | kw
    row = Resident(**values)
    session.add(row)
    session.commit()
    return SimpleNamespace(id=row.id, openid=row.openid)


# On SQLite every transaction takes the write lock (BEGIN IMMEDIATE), so each read below ends its
# transaction before returning plain values; otherwise the next job would wait for the test's lock.


def ledger(session, ledger_key):
    """The keyed OutboundMessage row as a dict."""
    session.expire_all()
    row = notify.delivery_status(session, ledger_key)
    values = {c: getattr(row, c) for c in ("status", "channel", "openid", "errcode", "errmsg", "wx_msgid")}
    values |= {"related": (row.related_type, row.related_id)}
    session.rollback()
    return values


def outbound(session):
    """(channel, status, errcode, keyed) for every OutboundMessage row, keyed rows first."""
    session.expire_all()
    rows = [
        (x.channel, x.status, x.errcode, x.idempotency_key is not None)
        for x in session.scalars(select(OutboundMessage).order_by(OutboundMessage.id))
    ]
    session.rollback()
    return rows


def cs_sends(session, resident_id):
    """The resident's customer-service send counter."""
    session.expire_all()
    value = session.get(Resident, resident_id).cs_sends_since_inbound
    session.rollback()
    return value


def grants(session, openid, template_id):
    """Remaining subscribe grants."""
    value = notify.remaining_grants(session, openid, template_id)
    session.rollback()
    return value


def rkey(resident_id, key):
    return notify.resident_ledger_key(resident_id, key)


def test_outbox_to_worker_to_sandbox_in_window(app, session, clock, sandbox, run_jobs):
    r = add_resident(session, last_inbound_at=clock_module.now() - timedelta(hours=2), cs_sends_since_inbound=1)
    with app.app_context():
        notify.notify_resident(session, r.id, "您的诉求 A-0001 已受理", key="appeal-1-accepted", related=("appeal", 1))
        commit_and_enqueue(session)
        job_id = notify.job_id_for(rkey(r.id, "appeal-1-accepted"))
        assert get_queue("default").job_ids == [job_id]
    run_jobs()
    (sent,) = sandbox.sent(r.openid)
    assert sent["kind"] == "custom"
    assert sent["body"]["text"]["content"] == "您的诉求 A-0001 已受理"
    row = ledger(session, rkey(r.id, "appeal-1-accepted"))
    assert (row["status"], row["channel"], row["openid"]) == ("sent", "custom", r.openid)
    assert row["related"] == ("appeal", 1)
    assert cs_sends(session, r.id) == 2


def test_delivering_twice_sends_once(app, session, clock, sandbox):
    r = add_resident(session, last_inbound_at=clock_module.now())
    with app.app_context():
        assert deliver_to_resident(r.id, "第一条", "k-twice") == "sent:custom"
        assert deliver_to_resident(r.id, "第一条", "k-twice") == "already-sent"
    assert len(sandbox.sent(r.openid)) == 1
    assert outbound(session) == [("custom", "sent", 0, True)]


def test_45015_falls_back_to_a_template_message(app, session, clock, sandbox):
    r = add_resident(session, last_inbound_at=clock_module.now() - timedelta(hours=1))
    sandbox.close_window(r.openid)
    with app.app_context():
        assert deliver_to_resident(r.id, "诉求已办结，请评价", "appeal-2-closed") == "sent:template"
    (sent,) = sandbox.sent(r.openid)
    assert sent["kind"] == "template"
    assert sent["body"]["template_id"] == app.config["WECHAT_TEMPLATE_NOTICE"]
    assert sent["body"]["data"]["thing1"]["value"] == "诉求已办结，请评价"
    assert sent["body"]["client_msg_id"] == notify.client_msg_id_for(rkey(r.id, "appeal-2-closed"))
    assert outbound(session) == [("template", "sent", 0, True), ("custom", "failed", 45015, False)]
    assert ledger(session, rkey(r.id, "appeal-2-closed"))["wx_msgid"] is not None
    # WeChat said the window is closed: later notifications go straight to the template.
    assert cs_sends(session, r.id) == app.config["WECHAT_CS_BUDGET"]
    with app.app_context():
        assert deliver_to_resident(r.id, "又一条", "appeal-2-rated") == "sent:template"
    assert len(sandbox.calls(CUSTOM)) == 1


def test_outside_the_window_goes_straight_to_the_template(app, session, clock, sandbox):
    r = add_resident(session, last_inbound_at=clock_module.now() - timedelta(hours=49))
    with app.app_context():
        assert deliver_to_resident(r.id, "x", "k-late") == "sent:template"
    assert sandbox.calls(CUSTOM) == []


def test_custom_template_fallback_is_sent_as_given(app, session, clock, sandbox):
    r = add_resident(session)
    tpl = {
        "template_id": "tpl-appeal",
        "data": {"character_string1": "A-0009", "phrase2": "已派单"},
        "url": "https://x",
    }
    with app.app_context():
        assert deliver_to_resident(r.id, "派单", "k-tpl", tpl) == "sent:template"
    (sent,) = sandbox.sent(r.openid, "template")
    assert sent["body"]["template_id"] == "tpl-appeal"
    assert sent["body"]["data"] == {"character_string1": {"value": "A-0009"}, "phrase2": {"value": "已派单"}}
    assert sent["body"]["url"] == "https://x"


def test_wechat_down_propagates_for_retry_then_delivers_once(app, session, clock, sandbox):
    r = add_resident(session, last_inbound_at=clock_module.now())
    sandbox.fail(CUSTOM, status=503)
    with app.app_context(), pytest.raises(WeChatUnavailable):
        deliver_to_resident(r.id, "稍后送达", "k-retry")
    row = ledger(session, rkey(r.id, "k-retry"))
    assert (row["status"], row["channel"], row["errcode"]) == ("failed", "custom", -1)
    assert sandbox.sent(r.openid) == []
    with app.app_context():
        assert deliver_to_resident(r.id, "稍后送达", "k-retry") == "sent:custom"
        assert deliver_to_resident(r.id, "稍后送达", "k-retry") == "already-sent"
    assert len(sandbox.sent(r.openid)) == 1
    assert outbound(session) == [("custom", "sent", 0, True), ("custom", "failed", -1, False)]


def test_a_send_that_times_out_after_wechat_accepted_it_is_sent_once_and_recorded_uncertain(
    app, session, clock, sandbox
):
    app.config["WECHAT_TIMEOUT"] = 0.3
    r = add_resident(session, last_inbound_at=clock_module.now())
    # WeChat delivers the message, then answers later than hongguan waits.
    sandbox.fail(CUSTOM, delay_after=1.5)
    with app.app_context():
        assert deliver_to_resident(r.id, "您的诉求已受理", "k-late-answer") == "uncertain:custom"
        # RQ or the sweeper running the job again must not resend it.
        assert deliver_to_resident(r.id, "您的诉求已受理", "k-late-answer") == "uncertain"
    assert [s["kind"] for s in sandbox.sent(r.openid)] == ["custom"]
    assert len(sandbox.calls(CUSTOM)) == 1
    assert sandbox.calls(TEMPLATE) == []  # no fallback to another channel either
    row = ledger(session, rkey(r.id, "k-late-answer"))
    assert (row["status"], row["channel"], row["errcode"]) == ("uncertain", "custom", -1)
    assert row["errmsg"].startswith("uncertain: ")
    assert outbound(session) == [("custom", "uncertain", -1, True)]
    assert cs_sends(session, r.id) == 1  # WeChat counted it against the window budget


def test_a_gateway_error_after_the_request_reached_wechat_is_uncertain_not_retried(app, session, clock, sandbox):
    r = add_resident(session, last_inbound_at=clock_module.now())
    sandbox.fail(CUSTOM, status=504)
    with app.app_context():
        assert deliver_to_resident(r.id, "x", "k-504") == "uncertain:custom"
        assert deliver_to_resident(r.id, "x", "k-504") == "uncertain"
    assert len(sandbox.calls(CUSTOM)) == 1
    assert ledger(session, rkey(r.id, "k-504"))["status"] == "uncertain"


def test_a_connect_failure_proves_nothing_was_sent_and_is_retried(app, session, clock, sandbox):
    import socket

    r = add_resident(session, last_inbound_at=clock_module.now())
    with socket.socket() as s:  # a loopback port with nobody listening: the connection is refused
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with app.app_context():
        client = oa_client()
        client.get_access_token()  # the token is cached: only the send itself meets the refused port
        client.api_base = closed
        with pytest.raises(WeChatUnavailable) as info:
            deliver_to_resident(r.id, "稍后送达", "k-refused")
        assert not isinstance(info.value, DeliveryUncertain)
        row = ledger(session, rkey(r.id, "k-refused"))
        assert (row["status"], row["errcode"]) == ("failed", -1)
        client.api_base = sandbox.url
        assert deliver_to_resident(r.id, "稍后送达", "k-refused") == "sent:custom"
    assert len(sandbox.sent(r.openid)) == 1


def test_a_run_that_died_during_the_call_leaves_the_notification_uncertain(app, session, clock, sandbox):
    r = add_resident(session, last_inbound_at=clock_module.now())
    key = rkey(r.id, "k-died")
    row = notify.claim_delivery(session, key, now=clock_module.now())
    notify.mark_calling(session, row, notify.Attempt("custom", r.openid, None, {"text": "x"}))
    session.commit()  # the claim and the call about to go out, as the dead run left them
    clock.advance(notify.IN_FLIGHT_STALE + timedelta(seconds=1))
    with app.app_context():
        assert deliver_to_resident(r.id, "x", "k-died") == "uncertain"
    assert sandbox.calls(CUSTOM) == []
    assert ledger(session, key)["status"] == "uncertain"


def test_a_broadcast_chunk_sends_once_each_and_resumes_where_a_dead_run_stopped(app, session, clock, sandbox):
    now = clock_module.now()
    people = [add_resident(session, openid=f"oChunk{i:08d}", last_inbound_at=now) for i in range(6)]
    ids = [p.id for p in people]
    key = "notice-77"
    with app.app_context():
        assert deliver_to_resident(ids[0], "停水", key) == "sent:custom"  # reached before the chunk ran
    # A run that died mid-chunk: its call to the third resident was in flight.
    row = notify.claim_delivery(session, rkey(ids[2], key), now=clock_module.now())
    notify.mark_calling(session, row, notify.Attempt("custom", people[2].openid, None, {"text": "停水"}))
    session.commit()
    with app.app_context(), pytest.raises(notify.DeliveryInFlight):
        deliver_to_residents(ids, "停水", key, "notice", 77)  # the others go out; the chunk asks to be retried
    assert [len(sandbox.sent(p.openid)) for p in people] == [1, 1, 0, 1, 1, 1]
    clock.advance(notify.IN_FLIGHT_STALE + timedelta(seconds=1))
    with app.app_context():
        outcomes = deliver_to_residents(ids, "停水", key, "notice", 77)
        assert deliver_to_residents(ids, "停水", key, "notice", 77) == {"already-settled": 6}
    # The cut-off call may have reached WeChat: uncertain, never resent; nobody got the notice twice.
    assert outcomes == {"already-settled": 5, "uncertain": 1}
    assert [len(sandbox.sent(p.openid)) for p in people] == [1, 1, 0, 1, 1, 1]
    assert ledger(session, rkey(ids[2], key))["status"] == "uncertain"
    assert ledger(session, rkey(ids[1], key))["related"] == ("notice", 77)


def test_a_lost_broadcast_chunk_is_handed_to_rq_again_until_its_job_is_done(app, session, clock, sandbox, run_jobs):
    people = [add_resident(session, openid=f"oLost{i:08d}") for i in range(5)]  # outside the window: templates
    with app.app_context():
        notify.notify_residents(session, [p.id for p in people], "燃气检修", key="notice-5", chunk=2)
        commit_and_enqueue(session)
        get_queue(notify.BROADCAST_QUEUE).empty()  # Redis lost the chunks (a worker died holding them)
        assert resume_broadcasts() == 0  # too early to call them lost
        clock.advance(BROADCAST_STUCK_AFTER + timedelta(minutes=1))
        assert resume_broadcasts() == 3
    run_jobs()
    assert [[s["kind"] for s in sandbox.sent(p.openid)] for p in people] == [["template"]] * 5
    session.expire_all()
    rows = session.scalars(select(PendingJob).where(PendingJob.func == notify.BROADCAST_JOB)).all()
    assert all(r.done_at is not None for r in rows)
    session.rollback()
    clock.advance(BROADCAST_STUCK_AFTER + timedelta(minutes=1))
    with app.app_context():
        assert resume_broadcasts() == 0  # done chunks are left alone
    run_jobs()
    assert all(len(sandbox.sent(p.openid)) == 1 for p in people)


def test_persistent_token_error_is_retryable_not_swallowed(app, session, clock, sandbox):
    r = add_resident(session, last_inbound_at=clock_module.now())
    sandbox.fail(CUSTOM, errcode=40001, times=None)
    with app.app_context(), pytest.raises(WeChatAPIError) as info:
        deliver_to_resident(r.id, "x", "k-40001")
    assert info.value.errcode == 40001
    assert len(sandbox.calls(CUSTOM)) == 2
    assert ledger(session, rkey(r.id, "k-40001"))["status"] == "failed"


def test_mini_program_subscribe_needs_and_spends_a_grant(app, session, clock, sandbox):
    app.config["MINIAPP_TEMPLATE_NOTICE"] = "tpl-mini-notice"
    r = add_resident(session, openid=None, miniapp_openid="oMiniJob01")
    with app.app_context():
        assert deliver_to_resident(r.id, "x", "k-nogrant") == "undelivered"
    assert sandbox.calls("/cgi-bin/message/subscribe/send") == []
    row = ledger(session, rkey(r.id, "k-nogrant"))
    assert (row["status"], row["channel"]) == ("failed", "none")

    notify.record_subscribe_grant(session, "oMiniJob01", "tpl-mini-notice")
    session.commit()
    sandbox.grant_subscribe("oMiniJob01", "tpl-mini-notice")
    with app.app_context():
        assert (
            deliver_to_resident(r.id, "活动报名成功，周六上午九点在社区活动中心集合", "k-grant") == "sent:mp_subscribe"
        )
    (sent,) = sandbox.sent("oMiniJob01", "mp_subscribe")
    assert len(sent["body"]["data"]["thing1"]["value"]) == 20
    assert grants(session, "oMiniJob01", "tpl-mini-notice") == 0


def test_43101_clears_a_grant_wechat_no_longer_honours(app, session, clock, sandbox):
    app.config["MINIAPP_TEMPLATE_NOTICE"] = "tpl-mini-notice"
    r = add_resident(session, openid=None, miniapp_openid="oMiniJob02")
    notify.record_subscribe_grant(session, "oMiniJob02", "tpl-mini-notice", count=3)
    session.commit()
    sandbox.grant_subscribe("someone-else", "tpl-mini-notice")  # grants enforced; this user has none there
    with app.app_context():
        assert deliver_to_resident(r.id, "x", "k-43101") == "undelivered"
    assert grants(session, "oMiniJob02", "tpl-mini-notice") == 0
    assert ledger(session, rkey(r.id, "k-43101"))["errcode"] == 43101


def test_a_transient_failure_gives_the_grant_back(app, session, clock, sandbox):
    app.config["MINIAPP_TEMPLATE_NOTICE"] = "tpl-mini-notice"
    r = add_resident(session, openid=None, miniapp_openid="oMiniJob03")
    notify.record_subscribe_grant(session, "oMiniJob03", "tpl-mini-notice")
    session.commit()
    sandbox.fail("/cgi-bin/message/subscribe/send", status=503)  # refused before handling: nothing was sent
    with app.app_context(), pytest.raises(WeChatUnavailable):
        deliver_to_resident(r.id, "x", "k-grant-back")
    assert grants(session, "oMiniJob03", "tpl-mini-notice") == 1
    with app.app_context():
        assert deliver_to_resident(r.id, "x", "k-grant-back") == "sent:mp_subscribe"
    assert grants(session, "oMiniJob03", "tpl-mini-notice") == 0


def test_unfollowed_resident_template_refusal_is_recorded_not_retried(app, session, clock, sandbox):
    r = add_resident(session)
    sandbox.unsubscribe(r.openid)
    with app.app_context():
        assert deliver_to_resident(r.id, "x", "k-gone") == "undelivered"
    row = ledger(session, rkey(r.id, "k-gone"))
    assert (row["status"], row["channel"], row["errcode"]) == ("failed", "template", 43004)


def test_staff_get_template_messages_through_the_urgent_queue(app, session, org, clock, sandbox, run_jobs):
    leader_id, leader_openid = org.staff["g1_leader"].id, org.staff["g1_leader"].openid
    with app.app_context():
        notify.notify_staff(
            session,
            leader_id,
            key="appeal-5-dispatched",
            title="燃气泄漏",
            fields={"number": "A-0005", "deadline": "2026-11-20 10:30", "地址": "湖西路3号"},
            related=("appeal", 5),
            urgent=True,
        )
        commit_and_enqueue(session)
        job_id = notify.job_id_for(notify.staff_ledger_key(leader_id, "appeal-5-dispatched"))
        assert get_queue("urgent").job_ids == [job_id]
    run_jobs(("urgent",))  # only the urgent queue is worked: the alert must be there
    (sent,) = sandbox.sent(leader_openid, "template")
    assert sent["body"]["template_id"] == app.config["WECHAT_TEMPLATE_STAFF_TASK"]
    assert sent["body"]["data"] == {
        "thing1": {"value": "【紧急】燃气泄漏"},
        "character_string2": {"value": "A-0005"},
        "time4": {"value": "2026-11-20 10:30"},
        "thing5": {"value": "地址：湖西路3号"},
    }
    with app.app_context():
        assert deliver_to_staff(leader_id, "appeal-5-dispatched", "燃气泄漏", {}) == "already-sent"
    assert len(sandbox.sent(leader_openid)) == 1


def test_staff_without_openid_is_recorded_as_undelivered(app, session, org, clock, sandbox):
    worker = org.staff["g2_worker"]
    worker.openid = None
    worker_id = worker.id
    session.commit()
    with app.app_context():
        assert deliver_to_staff(worker_id, "k-none", "t", {}) == "undelivered"
    assert sandbox.sent() == []
    row = ledger(session, notify.staff_ledger_key(worker_id, "k-none"))
    assert row["status"] == "failed"
    assert "openid" in row["errmsg"]


def test_token_refresher_fills_both_caches_and_skips_fresh_tokens(app, sandbox):
    with app.app_context():
        assert refresh_access_tokens() == {"oa": True, "mp": True}
        assert refresh_access_tokens() == {"oa": False, "mp": False}
        redis = get_redis(app)
        assert redis.get(oa_client().token_key) is not None
    assert sandbox.fetches_for(sandbox.appid) == 1
    assert sandbox.fetches_for(sandbox.miniapp_appid) == 1
    app.config["WECHAT_TOKEN_MIN_TTL"] = 7200  # every cached token is now "about to expire"
    with app.app_context():
        assert refresh_access_tokens() == {"oa": True, "mp": True}
    assert sandbox.forced_refreshes == 0  # renewing ahead never forces a rotation


def test_token_refresher_failure_is_raised_for_the_cron_log(app, sandbox):
    sandbox.fail("/cgi-bin/stable_token", status=502, times=None)
    with app.app_context(), pytest.raises(WeChatUnavailable):
        refresh_access_tokens()


def test_a_template_call_that_died_in_flight_is_made_again_under_its_client_msg_id(app, session, clock, sandbox):
    app.config["WECHAT_TEMPLATE_NOTICE"] = "tpl-notice"
    r = add_resident(session)  # outside the window: the template message is the channel
    key = rkey(r.id, "k-died-template")
    with app.app_context():
        assert deliver_to_resident(r.id, "倡议", "k-died-template") == "sent:template"
    # As a run killed after WeChat took the call but before it recorded the answer would leave the row:
    session.execute(
        OutboundMessage.__table__.update().where(OutboundMessage.idempotency_key == key).values(status="sending")
    )
    session.commit()
    clock.advance(notify.IN_FLIGHT_STALE + timedelta(seconds=1))
    with app.app_context():
        assert deliver_to_resident(r.id, "倡议", "k-died-template") == "sent:template"
    assert len(sandbox.calls("/cgi-bin/message/template/send")) == 2  # called again …
    assert len(sandbox.sent(r.openid)) == 1  # … and WeChat dropped the repeat of its client_msg_id
    assert ledger(session, key)["status"] == "sent"
    first, second = sandbox.calls("/cgi-bin/message/template/send")
    assert first["body"]["client_msg_id"] == second["body"]["client_msg_id"]
    # Past WeChat's ten minutes the same state is uncertain again: never resent.
    session.execute(
        OutboundMessage.__table__.update().where(OutboundMessage.idempotency_key == key).values(status="sending")
    )
    session.commit()
    clock.advance(notify.TEMPLATE_DEDUPE)
    with app.app_context():
        assert deliver_to_resident(r.id, "倡议", "k-died-template") == "uncertain"
    assert len(sandbox.calls("/cgi-bin/message/template/send")) == 2
