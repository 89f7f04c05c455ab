"""Failed pushes stay failed for an operator: the sweep passes them by, /healthz counts them, and staff list
and retry them (`hongguan inbound failed` / `retry`)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select, update

from bot import menu
from cli.inbound_commands import inbound_group
from infra.web import get_db, get_redis
from jobs.inbound import MAX_RESUMES, STUCK_AFTER, process_inbound, resume_stuck
from models import Appeal, InboundMessage
from wechat.chat import FakeWeChat
from wsgi import create_app

OPENID = "oResidentAlice0000000000001"  # the `wx` fixture's user
# The key WeChat switched to when someone saved a new EncodingAESKey in the console but not in hongguan.
ROTATED_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"


def _rows(session, stmt) -> list:
    try:
        return list(session.execute(stmt).all())
    finally:
        session.commit()


def _failed_count(client) -> int:
    body = client.get("/healthz").get_json()
    return body["inbound"]["failed"]


def _post(client, sender: FakeWeChat, fields) -> str:
    params, body = sender.push(fields)
    resp = client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


@pytest.fixture
def rotated(app) -> FakeWeChat:
    """WeChat encrypting for our user with a key hongguan does not have yet."""
    cfg = app.config
    return FakeWeChat(cfg["WECHAT_TOKEN"], ROTATED_KEY, cfg["WECHAT_APPID"], OPENID, account_id="gh_test")


@pytest.fixture
def fixed_app(app_config):
    """The same database after the operator configured the rotated key."""
    application = create_app({**app_config, "WECHAT_PREVIOUS_AES_KEY": ROTATED_KEY})
    yield application
    get_db(application).dispose()
    get_redis(application).close()


def test_an_undecryptable_push_stays_failed_is_counted_and_is_filed_after_a_retry(
    app, client, wx, org, session, clock, rotated, fixed_app
):
    assert _post(client, rotated, rotated.fields("text", Content="12幢楼道灯坏了一个月了", MsgId=7001)) == "success"
    status = select(InboundMessage.id, InboundMessage.msg_type, InboundMessage.status)
    [(inbound_id, msg_type, state)] = _rows(session, status)
    assert (msg_type, state) == ("unreadable", "failed")
    assert _failed_count(client) == 1

    # Neither the sweep nor a stray job marks it handled: it waits for a person.
    clock.advance(STUCK_AFTER + timedelta(minutes=1))
    with app.app_context():
        assert resume_stuck() == 0
        assert process_inbound(inbound_id) == "unreadable"
    assert _rows(session, status) == [(inbound_id, "unreadable", "failed")]
    assert _failed_count(client) == 1

    runner = fixed_app.test_cli_runner()
    listed = runner.invoke(inbound_group, ["failed"])
    assert listed.exit_code == 0, listed.output
    assert f"#{inbound_id} " in listed.output
    assert "unreadable (encrypted)" in listed.output
    assert OPENID not in listed.output
    assert "1 failed push(es)" in listed.output

    retried = runner.invoke(inbound_group, ["retry", str(inbound_id)])
    assert retried.exit_code == 0, retried.output
    assert f"#{inbound_id} queued" in retried.output
    rows = select(InboundMessage.msg_type, InboundMessage.msg_id, InboundMessage.dedupe_key, InboundMessage.status)
    assert _rows(session, rows) == [("text", "7001", "msg:7001", "queued")]
    wx.run_jobs()
    assert _rows(session, select(Appeal.text)) == [("12幢楼道灯坏了一个月了",)]
    assert any("受理" in a for a in wx.answers())  # the resident hears back through customer service
    assert _rows(session, select(InboundMessage.status)) == [("handled",)]
    assert _failed_count(client) == 0
    # WeChat retrying the original push now reaches the stored message: counted, no second appeal.
    fixed = fixed_app.test_client()
    assert _post(fixed, rotated, rotated.fields("text", Content="12幢楼道灯坏了一个月了", MsgId=7001)) == "success"
    assert _rows(session, select(InboundMessage.deliveries)) == [(2,)]
    wx.run_jobs()
    assert _rows(session, select(func.count()).select_from(Appeal)) == [(1,)]


def test_a_retry_of_a_push_whose_redelivery_got_through_marks_it_a_duplicate(
    app, client, wx, org, session, rotated, fixed_app
):
    fields = rotated.fields("text", Content="东门道闸坏了", MsgId=7002)
    assert _post(client, rotated, fields) == "success"  # before the key was configured
    fixed = fixed_app.test_client()
    assert menu.ACK_QUEUED in rotated.read_reply(_post(fixed, rotated, fields))["Content"]  # WeChat's retry
    [(inbound_id,)] = _rows(session, select(InboundMessage.id).where(InboundMessage.status == "failed"))
    result = fixed_app.test_cli_runner().invoke(inbound_group, ["retry", str(inbound_id)])
    assert result.exit_code == 0, result.output
    assert "duplicate" in result.output
    rows = select(InboundMessage.msg_type, InboundMessage.status).order_by(InboundMessage.id)
    assert _rows(session, rows) == [("unreadable", "handled"), ("text", "queued")]
    wx.run_jobs()
    assert _rows(session, select(func.count()).select_from(Appeal)) == [(1,)]


def test_a_push_that_still_cannot_be_read_stays_failed_with_the_new_error(app, client, wx, session, clock):
    plain = wx.as_user(OPENID, mode="plain")
    assert plain.post("<xml><Content>unclosed").get_data(as_text=True) == "success"
    [(inbound_id,)] = _rows(session, select(InboundMessage.id))
    clock.advance(STUCK_AFTER + timedelta(minutes=1))
    with app.app_context():
        assert resume_stuck() == 0
    result = app.test_cli_runner().invoke(inbound_group, ["retry", str(inbound_id)])
    assert result.exit_code == 1
    assert "unreadable" in result.output
    rows = select(InboundMessage.status, InboundMessage.last_error)
    [(state, error)] = _rows(session, rows)
    assert state == "failed"
    assert error.startswith("XmlError")
    assert _failed_count(client) == 1


def test_a_stored_body_that_no_longer_parses_is_left_failed_not_requeued_forever(app, wx, org, session, clock):
    assert wx.say("小区门口的垃圾桶满了") == menu.ACK_QUEUED
    [(inbound_id,)] = _rows(session, select(InboundMessage.id))
    session.execute(update(InboundMessage).values(body="<xml><Content>broken"))
    session.commit()
    with app.app_context():
        assert process_inbound(inbound_id) == "unparsable"
    state = select(InboundMessage.status, InboundMessage.attempts)
    [(status, attempts)] = _rows(session, state)
    assert status == "failed"
    assert attempts >= MAX_RESUMES
    for _ in range(3):  # three sweeps, a quarter of an hour apart: none hands it to RQ again
        clock.advance(timedelta(minutes=15))
        with app.app_context():
            assert resume_stuck() == 0


def test_a_message_whose_retries_are_spent_is_retried_by_staff(app, wx, org, session, clock):
    assert wx.say("3幢电梯困人了") == menu.ACK_QUEUED
    [(inbound_id,)] = _rows(session, select(InboundMessage.id))
    session.execute(update(InboundMessage).values(status="failed", attempts=MAX_RESUMES, last_error="RuntimeError"))
    session.commit()
    clock.advance(STUCK_AFTER + timedelta(minutes=1))
    with app.app_context():
        assert resume_stuck() == 0
    result = app.test_cli_runner().invoke(inbound_group, ["retry", str(inbound_id)])
    assert result.exit_code == 0, result.output
    assert _rows(session, select(InboundMessage.status, InboundMessage.attempts)) == [("queued", 0)]
    wx.run_jobs()
    assert _rows(session, select(InboundMessage.status)) == [("handled",)]
    assert _rows(session, select(func.count()).select_from(Appeal)) == [(1,)]


def test_retry_refuses_unknown_and_unfailed_messages(app, wx, org, session):
    runner = app.test_cli_runner()
    missing = runner.invoke(inbound_group, ["retry", "999"])
    assert missing.exit_code != 0
    assert "no inbound message 999" in missing.output
    assert wx.say("帮助")
    [(inbound_id,)] = _rows(session, select(InboundMessage.id))
    handled = runner.invoke(inbound_group, ["retry", str(inbound_id)])
    assert handled.exit_code != 0
    assert "is handled, not failed" in handled.output
