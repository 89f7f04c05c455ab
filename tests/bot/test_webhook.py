"""POST /wechat end to end: signatures, replays, hostile XML, modes, dedupe, failures, Redis outages."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from redis.exceptions import RedisError
from sqlalchemy import func, select, update

from bot import handlers, menu
from bot.inbound import dedupe_key
from infra.web import db_session, get_redis
from jobs.outbox import sweep
from jobs.queue import get_queue
from jobs.relay import relay_inbound
from models import Appeal, InboundMessage, PendingJob, Resident
from wechat.crypto import MessageCrypto
from wechat.signature import sign
from wechat.xmlsafe import parse_xml

OPENID = "oResidentAlice0000000000001"  # the `wx` fixture's user
PREVIOUS_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"


def _count(session, model) -> int:
    return _scalar(session, select(func.count()).select_from(model))


def _scalar(session, stmt):
    """Read one value and end the transaction at once: on SQLite every transaction holds the write lock."""
    try:
        return session.scalar(stmt)
    finally:
        session.commit()  # not rollback: that would expire the org fixture's objects (see test_handlers)


def _rows(session, stmt) -> list:
    """Read plain rows (not ORM objects) and end the transaction."""
    try:
        return list(session.execute(stmt).all())
    finally:
        session.commit()


def _text(wx, content: str, msg_id: int = 9001) -> dict:
    return wx.fake.fields("text", Content=content, MsgId=msg_id)


# ---------------------------------------------------------------------------------------- verification


def test_get_verification_echoes_echostr(client, app, clock):
    # The official example's moment (message_push.md): the replay window applies to the GET as well.
    clock.freeze(datetime.fromtimestamp(1714036504 + 20, UTC))
    params = {"timestamp": "1714036504", "nonce": "1514711492", "echostr": "4375120948345356249"}
    params["signature"] = sign(app.config["WECHAT_TOKEN"], params["timestamp"], params["nonce"])
    resp = client.get("/wechat", query_string=params)
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "4375120948345356249"
    params["signature"] = "0" * 40
    assert client.get("/wechat", query_string=params).status_code == 403


@pytest.mark.parametrize("skew", [-301, 301, -86400])
def test_get_verification_outside_the_timestamp_window_is_refused(client, app, clock, skew):
    ts = str(int(clock.now().timestamp()) + skew)
    params = {"timestamp": ts, "nonce": "1514711492", "echostr": "4375120948345356249"}
    params["signature"] = sign(app.config["WECHAT_TOKEN"], ts, params["nonce"])
    resp = client.get("/wechat", query_string=params)
    assert resp.status_code == 403
    assert "4375120948345356249" not in resp.get_data(as_text=True)
    params["timestamp"] = "not-a-number"
    params["signature"] = sign(app.config["WECHAT_TOKEN"], "not-a-number", params["nonce"])
    assert client.get("/wechat", query_string=params).status_code == 403


# -------------------------------------------------------------------------------------------- refusals


def test_forged_signature_is_403_and_nothing_is_stored(wx, session):
    params, body = wx.fake.push(_text(wx, "伪造的消息"))
    params["signature"] = "f" * 40
    resp = wx.client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml")
    assert resp.status_code == 403
    assert resp.mimetype == "text/plain"
    assert _count(session, InboundMessage) == 0


def test_forged_msg_signature_in_safe_mode_is_403(wx, session):
    params, body = wx.fake.push(_text(wx, "改过的密文"))
    params["msg_signature"] = sign("wrong-token", params["timestamp"], params["nonce"], "x")
    resp = wx.client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml")
    assert resp.status_code == 403
    assert _count(session, InboundMessage) == 0


@pytest.mark.parametrize("skew", [-301, 301, -3600])
def test_timestamp_outside_the_window_is_refused(wx, session, clock, skew):
    stale = str(int(clock.now().timestamp()) + skew)
    resp = wx.post(_text(wx, "旧消息"), timestamp=stale)
    assert resp.status_code == 403
    assert _count(session, InboundMessage) == 0


def test_timestamp_inside_the_window_is_accepted(wx, org, clock):
    recent = str(int(clock.now().timestamp()) - 250)
    assert wx.post(_text(wx, "稍早发出的消息"), timestamp=recent).status_code == 200


def test_reused_nonce_with_a_different_body_is_refused(wx, org, session, clock):
    ts = str(int(clock.now().timestamp()))
    first = wx.post(_text(wx, "第一条：小区门口积水", msg_id=1), timestamp=ts, nonce="424242")
    assert first.status_code == 200
    replayed = wx.post(_text(wx, "换了内容的重放", msg_id=2), timestamp=ts, nonce="424242")
    assert replayed.status_code == 403
    assert _count(session, InboundMessage) == 1
    wx.run_jobs()
    assert _rows(session, select(Appeal.text)) == [("第一条：小区门口积水",)]


def test_oversize_body_is_413_plain_text(wx, app):
    params, _ = wx.fake.push(_text(wx, "x"))
    big = b"<xml><Content><![CDATA[" + b"a" * (app.config["MAX_CONTENT_LENGTH"] + 10) + b"]]></Content></xml>"
    resp = wx.client.post(f"/wechat?{urlencode(params)}", data=big, content_type="text/xml")
    assert resp.status_code == 413
    assert resp.mimetype == "text/plain"
    assert b"<html" not in resp.data.lower()


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(2, 11)).replace("&lol1;", "&lol;")
    + "]><xml><MsgType>text</MsgType><Content>&lol10;</Content></xml>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
    f"<xml><ToUserName>gh_test</ToUserName><FromUserName>{OPENID}</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>77</MsgId></xml>"
)
QUADRATIC = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "'
    + "x" * 40000
    + '">]><xml><Content>'
    + "&a;" * 2000
    + "</Content></xml>"
)


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE, QUADRATIC], ids=["billion-laughs", "xxe", "quadratic"])
@pytest.mark.parametrize("mode", ["plain", "aes"])
def test_hostile_xml_is_refused_stored_and_answered_success(wx, session, payload, mode):
    driver = wx.as_user(OPENID, mode=mode)
    resp = driver.post(payload)
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "success"
    assert _count(session, Appeal) == 0
    rows = _rows(session, select(InboundMessage.msg_type, InboundMessage.status, InboundMessage.last_error))
    assert [(r.msg_type, r.status) for r in rows] == [("unreadable", "failed")]
    assert "refused" in rows[0].last_error


def test_malformed_xml_after_a_valid_signature_is_success(wx, session):
    resp = wx.as_user(OPENID, mode="plain").post("<xml><Content>unclosed")
    assert resp.get_data(as_text=True) == "success"
    assert _scalar(session, select(InboundMessage.status)) == "failed"


def test_undecryptable_push_is_logged_stored_and_answered_success(wx, session, app):
    # Valid signatures (same token) but encrypted for another appid: decryption refuses it.
    other = MessageCrypto(app.config["WECHAT_TOKEN"], app.config["WECHAT_AES_KEY"], "wx-another-app")
    ts, nonce = str(int(wx.fake.fields("text")["CreateTime"])), "5150"
    encrypt = other.encrypt("<xml><MsgType>text</MsgType></xml>")
    params = {
        "signature": sign(app.config["WECHAT_TOKEN"], ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": sign(app.config["WECHAT_TOKEN"], ts, nonce, encrypt),
    }
    body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    resp = wx.client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml")
    assert resp.get_data(as_text=True) == "success"
    [row] = _rows(
        session,
        select(
            InboundMessage.msg_type,
            InboundMessage.status,
            InboundMessage.encrypted,
            InboundMessage.last_error,
        ),
    )
    assert (row.msg_type, row.status, row.encrypted) == ("unreadable", "failed", True)
    assert "appid" in row.last_error


# ----------------------------------------------------------------------------------------------- modes


def test_plaintext_mode_replies_in_plain_xml_with_swapped_users(wx, org, app):
    plain = wx.as_user(OPENID, mode="plain")
    resp = plain.post(plain.fake.command("帮助"))
    reply = parse_xml(resp.data)
    assert "Encrypt" not in reply
    assert reply["ToUserName"] == OPENID
    assert reply["FromUserName"] == app.config["WECHAT_ACCOUNT_ID"]
    assert reply["MsgType"] == "text"
    assert "使用说明" in reply["Content"]


def test_compat_mode_uses_the_encrypted_fields_and_encrypts_the_reply(wx, org, session):
    compat = wx.as_user(OPENID, mode="compat")
    resp = compat.post(compat.fake.command("路口的井盖丢了，很危险"))
    envelope = parse_xml(resp.data)
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    reply = compat.fake.read_reply(resp.get_data(as_text=True))
    assert reply["Content"] == menu.ACK_QUEUED
    assert _scalar(session, select(InboundMessage.encrypted)) is True
    # The stored (decrypted) message is what the worker files.
    compat.run_jobs()
    assert _scalar(session, select(Appeal.number)) in compat.answers()[-1]


def test_safe_mode_reply_is_encrypted_and_signed(wx, org):
    resp = wx.post(wx.fake.command("帮助"))
    envelope = parse_xml(resp.data)
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert "使用说明" in wx.fake.read_reply(resp.get_data(as_text=True))["Content"]


def test_previous_aes_key_still_decrypts_after_rotation(app_config, redis_url, sandbox, clock):
    from wechat.chat import FakeWeChat
    from wsgi import create_app

    app = create_app({**app_config, "WECHAT_PREVIOUS_AES_KEY": PREVIOUS_KEY})
    client = app.test_client()
    old_sender = FakeWeChat(
        app.config["WECHAT_TOKEN"], PREVIOUS_KEY, app.config["WECHAT_APPID"], OPENID, account_id="gh_test"
    )
    params, body = old_sender.push(old_sender.command("帮助"))
    resp = client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml")
    # The reply is encrypted with the key that decrypted the message, so the sender can read it.
    assert "使用说明" in old_sender.read_reply(resp.get_data(as_text=True))["Content"]


# ---------------------------------------------------------------------------------------------- dedupe


def test_three_identical_deliveries_make_one_appeal_and_the_same_reply(wx, org, session):
    fields = _text(wx, "3幢电梯又停了，老人下不了楼", msg_id=6054768590064713728)
    params, body = wx.fake.push(fields)
    replies = []
    for _ in range(3):
        resp = wx.client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml")
        assert resp.status_code == 200
        replies.append(wx.fake.read_reply(resp.get_data(as_text=True))["Content"])
    assert replies == [menu.ACK_QUEUED] * 3
    row = select(InboundMessage.dedupe_key, InboundMessage.deliveries, InboundMessage.status)
    assert _rows(session, row) == [("msg:6054768590064713728", 3, "queued")]
    with wx.client.application.app_context():
        assert get_queue().job_ids == []  # the request only stores: the relay hands the row to RQ
        assert relay_inbound(db_session(), get_redis()) == 1
        assert relay_inbound(db_session(), get_redis()) == 0
        assert get_queue().job_ids == ["inbound-1"]  # one job for three deliveries
    assert _count(session, Appeal) == 0  # intake runs in the worker, not in the request

    wx.run_jobs()
    assert _count(session, Appeal) == 1
    number = _scalar(session, select(Appeal.number))
    assert [a for a in wx.answers() if number in a] == wx.answers()
    assert len([a for a in wx.answers() if "受理" in a]) == 1  # intake's answer, sent once
    assert _rows(session, row) == [("msg:6054768590064713728", 3, "handled")]
    # A late fourth delivery after the work is done: same acknowledgement, no new job, appeal or message.
    done = (_count(session, Appeal), _count(session, PendingJob), len(wx.answers()))
    resp = wx.client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml")
    assert wx.fake.read_reply(resp.get_data(as_text=True))["Content"] == menu.ACK_QUEUED
    assert wx.run_jobs() == 0
    assert (_count(session, Appeal), _count(session, PendingJob), len(wx.answers())) == done


def test_redeliveries_with_fresh_nonces_are_deduped_by_msgid(wx, org, session):
    fields = _text(wx, "垃圾站三天没清运了", msg_id=123456789)
    contents = {wx.fake.read_reply(wx.post(fields).get_data(as_text=True))["Content"] for _ in range(3)}
    assert contents == {menu.ACK_QUEUED}
    wx.run_jobs()
    assert _count(session, Appeal) == 1
    assert _count(session, InboundMessage) == 1


def test_events_are_deduped_by_sender_time_event_and_key(wx, org, session):
    subscribe = wx.fake.fields("event", Event="subscribe", EventKey="qrscene_b-e-lz-4")
    for _ in range(3):
        assert "欢迎关注" in wx.fake.read_reply(wx.post(subscribe).get_data(as_text=True))["Content"]
    click = wx.fake.fields("event", Event="CLICK", EventKey="HELP")  # same second, different event
    assert wx.post(click).status_code == 200
    rows = _rows(
        session,
        select(InboundMessage.event, InboundMessage.deliveries, InboundMessage.dedupe_key).order_by(InboundMessage.id),
    )
    assert [(r.event, r.deliveries) for r in rows] == [("subscribe", 3), ("CLICK", 1)]
    assert all(r.dedupe_key.startswith("ev:") and OPENID not in r.dedupe_key for r in rows)
    assert _count(session, PendingJob) == 1  # one profile fetch, not three


@pytest.mark.parametrize("msg_id", [2**63, 2**64 - 1, 9223372036854775807])
def test_a_msgid_beyond_a_signed_64_bit_integer_is_stored_and_filed(wx, org, session, msg_id):
    # WeChat's MsgId is unsigned: 2^63 and above must be stored, deduped and handled like any other.
    fields = _text(wx, "二期地下车库漏水，车都泡了", msg_id=msg_id)
    for _ in range(2):
        resp = wx.post(fields)
        assert resp.status_code == 200
        assert wx.fake.read_reply(resp.get_data(as_text=True))["Content"] == menu.ACK_QUEUED
    stored = select(InboundMessage.msg_id, InboundMessage.dedupe_key, InboundMessage.deliveries)
    assert _rows(session, stored) == [(str(msg_id), f"msg:{msg_id}", 2)]
    wx.run_jobs()
    assert _rows(session, select(Appeal.text)) == [("二期地下车库漏水，车都泡了",)]


RECEIPTS = {
    "TEMPLATESENDJOBFINISH": {"Status": "success"},
    "MASSSENDJOBFINISH": {"Status": "send success", "TotalCount": "2", "FilterCount": "2", "SentCount": "2"},
}


@pytest.mark.parametrize("event", sorted(RECEIPTS))
def test_receipts_in_the_same_second_with_different_msgids_are_distinct(wx, org, session, event):
    def receipt(msg_id: str) -> dict:
        return wx.fake.fields("event", Event=event, MsgID=msg_id, **RECEIPTS[event])

    first, second = receipt("200001"), receipt("200002")
    assert first["CreateTime"] == second["CreateTime"]
    for fields in (first, second, first):  # the last one is WeChat delivering the first receipt again
        assert wx.post(fields).get_data(as_text=True) == "success"
    rows = _rows(session, select(InboundMessage.msg_id, InboundMessage.deliveries).order_by(InboundMessage.id))
    assert rows == [("200001", 2), ("200002", 1)]


def _subscribe_msg_sent(wx, *msg_ids: str) -> str:
    items = "".join(
        f"<List><TemplateId><![CDATA[tpl-notice]]></TemplateId><MsgID>{m}</MsgID>"
        "<ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List>"
        for m in msg_ids
    )
    f = wx.fake.fields("event", Event="subscribe_msg_sent_event")
    return (
        f"<xml><ToUserName><![CDATA[{f['ToUserName']}]]></ToUserName><FromUserName><![CDATA[{f['FromUserName']}]]>"
        f"</FromUserName><CreateTime>{f['CreateTime']}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[subscribe_msg_sent_event]]></Event><SubscribeMsgSentEvent>{items}</SubscribeMsgSentEvent></xml>"
    )


def test_subscribe_message_receipts_are_told_apart_by_their_nested_msgids(wx, org, session):
    # subscribe_msg_sent_event carries its MsgID inside <SubscribeMsgSentEvent><List>.
    for body in (_subscribe_msg_sent(wx, "1700827132819554304"), _subscribe_msg_sent(wx, "1700827132819554305")):
        assert wx.post(body).get_data(as_text=True) == "success"
    assert wx.post(_subscribe_msg_sent(wx, "1700827132819554304")).get_data(as_text=True) == "success"
    rows = _rows(session, select(InboundMessage.msg_id, InboundMessage.deliveries).order_by(InboundMessage.id))
    assert rows == [("1700827132819554304", 2), ("1700827132819554305", 1)]


def test_event_dedupe_keys_without_a_msgid_are_unchanged():
    fields = {"MsgType": "event", "FromUserName": "oX", "CreateTime": "1", "Event": "CLICK", "EventKey": "HELP"}
    legacy = "ev:" + hashlib.sha256("\x1f".join(["oX", "1", "CLICK", "HELP"]).encode()).hexdigest()[:48]
    assert dedupe_key(fields, "<xml/>") == legacy  # rows stored before MsgID joined the key still match


# ------------------------------------------------------------------------------------ window, failures


def test_every_resident_message_restarts_the_customer_service_window(wx, org, session, clock):
    window = select(Resident.last_inbound_at, Resident.cs_sends_since_inbound).where(Resident.openid == OPENID)
    assert wx.say("帮助")
    [(first, _)] = _rows(session, window)
    assert first == clock.now()
    session.execute(update(Resident).where(Resident.openid == OPENID).values(cs_sends_since_inbound=4))
    session.commit()
    clock.advance(timedelta(hours=30))
    assert wx.say("/click MY_APPEALS")
    second = clock.now()
    assert second - first > timedelta(hours=30)
    assert _rows(session, window) == [(second, 0)]
    # A template delivery receipt is not the resident writing: the window does not move.
    clock.advance(timedelta(hours=1))
    receipt = wx.fake.fields("event", Event="TEMPLATESENDJOBFINISH", MsgID="200001", Status="success")
    assert wx.post(receipt).get_data(as_text=True) == "success"
    assert _rows(session, window) == [(second, 0)]


@pytest.fixture
def flaky_handler():
    """A message type whose handler fails once, then answers: a real handler in the real registry."""
    calls = {"n": 0}

    def flaky(ctx: handlers.Context) -> str:
        calls["n"] += 1
        ctx.resident.name = "临时写入"  # must be rolled back with the failed attempt
        if calls["n"] == 1:
            raise RuntimeError("downstream hiccup")
        return "这是稍后送达的答复"

    handlers.handles("hongguan_test_flaky")(flaky)
    yield calls
    handlers.HANDLERS.pop(("hongguan_test_flaky", None))


def test_handler_failure_is_stored_answered_and_retried_by_a_job(wx, org, session, run_jobs, sandbox, flaky_handler):
    fields = wx.fake.fields("hongguan_test_flaky", Content="需要重试的消息")
    resp = wx.post(fields)
    assert wx.fake.read_reply(resp.get_data(as_text=True))["Content"] == "收到，正在处理中，稍后给您回复。"
    row = select(InboundMessage.id, InboundMessage.status, InboundMessage.attempts, InboundMessage.last_error).where(
        InboundMessage.msg_type == "hongguan_test_flaky"
    )
    [(inbound_id, status, attempts, error)] = _rows(session, row)
    assert (status, attempts) == ("failed", 1)
    assert "downstream hiccup" in error
    # The failed attempt's writes were rolled back; the message itself was kept.
    assert _scalar(session, select(Resident.name).where(Resident.openid == OPENID)) is None
    job = select(PendingJob.func).where(PendingJob.job_id == f"inbound-{inbound_id}")
    assert _scalar(session, job) == "jobs.inbound.process_inbound"
    # WeChat's retry of the same push gets the same short answer and does not run the handler again.
    assert wx.fake.read_reply(wx.post(fields).get_data(as_text=True))["Content"].startswith("收到")
    assert flaky_handler["n"] == 1

    run_jobs()
    assert _rows(session, row)[0][1:3] == ("handled", 2)
    sent = sandbox.sent(OPENID, "custom")
    assert [s["body"]["text"]["content"] for s in sent] == ["这是稍后送达的答复"]


def test_message_while_redis_is_down_is_answered_and_its_work_runs_after(
    wx, org, session, app, redis_server, run_jobs, sandbox
):
    profile_job = select(PendingJob.enqueued_at, PendingJob.attempts).where(
        PendingJob.func == "jobs.inbound.sync_profile"
    )
    redis_server.stop()
    try:
        welcome = wx.say("/subscribe b-e-lz-1")
        assert "已为您绑定：金鸡湖社区 第一网格 绿洲花园1幢" in welcome
        # Stored and acknowledged while Redis is down; the relay cannot hand it over yet and keeps it.
        assert wx.say("楼下的路灯不亮了") == menu.ACK_QUEUED
        [(enqueued_at, attempts)] = _rows(session, profile_job)
        assert enqueued_at is None
        assert attempts >= 1
        with app.app_context(), pytest.raises(RedisError):
            relay_inbound(db_session(), get_redis())
        intake = select(InboundMessage.status, InboundMessage.enqueued_at).where(InboundMessage.msg_type == "text")
        assert _rows(session, intake) == [("queued", None)]
    finally:
        redis_server.start()
    assert _count(session, Appeal) == 0
    with app.app_context():
        assert sweep(session) >= 1  # the handler's deferred profile fetch
        assert relay_inbound(db_session(), get_redis()) == 1  # the stored message, now that Redis is back
    session.rollback()
    assert _rows(session, profile_job)[0][0] is not None
    assert _rows(session, intake)[0][1] is not None
    run_jobs()
    calls = sandbox.calls("/cgi-bin/user/info")
    assert [c["params"]["openid"] for c in calls] == [OPENID]
    assert _count(session, InboundMessage) == 2
    # Then the appeal exists and the resident was told its number.
    number = _scalar(session, select(Appeal.number))
    assert number is not None
    assert any(f"编号 {number}" in a for a in wx.answers())


def test_the_signed_url_is_stored_with_its_message_and_refused_for_another(wx, org, session, clock, redis_server):
    ts = str(int(clock.now().timestamp()))
    params, body = wx.fake.push(_text(wx, "看看重放", msg_id=31), timestamp=ts, nonce="777")
    assert wx.client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml").status_code == 200
    stored = select(InboundMessage.push_nonce, InboundMessage.deliveries)
    assert _rows(session, stored) == [(f"{ts}:777", 1)]
    # The exact request again (WeChat retrying it): the same message, counted, not refused.
    assert wx.client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml").status_code == 200
    assert _rows(session, stored) == [(f"{ts}:777", 2)]
    # The check lives in the database: it holds while Redis is down, also for a message the webhook handles
    # inline (a command) and for a body it cannot read.
    redis_server.stop()
    try:
        for fields in (_text(wx, "换成别的内容", msg_id=32), wx.fake.command("帮助")):
            assert wx.post(fields, timestamp=ts, nonce="777").status_code == 403
        plain = wx.as_user(OPENID, mode="plain")
        assert plain.post("<xml><Content>unclosed", timestamp=ts, nonce="777").get_data(as_text=True) == "success"
    finally:
        redis_server.start()
    assert _rows(session, stored) == [(f"{ts}:777", 2)]


def test_a_captured_url_cannot_resend_another_stored_message(wx, org, session, clock):
    ts = str(int(clock.now().timestamp()))
    first = _text(wx, "第一条", msg_id=41)
    second = _text(wx, "第二条", msg_id=42)
    assert wx.post(first, timestamp=ts, nonce="1001").status_code == 200
    assert wx.post(second, timestamp=ts, nonce="1002").status_code == 200
    # The first message's URL with the second message's body: refused, and the second is not counted again.
    assert wx.post(second, timestamp=ts, nonce="1001").status_code == 403
    rows = _rows(session, select(InboundMessage.msg_id, InboundMessage.deliveries).order_by(InboundMessage.id))
    assert rows == [("41", 1), ("42", 1)]


@pytest.fixture
def flaky_text():
    """The real text handler, failing on its first call (a worker crash mid-intake), then itself again."""
    real = handlers.HANDLERS[("text", None)]
    calls = {"n": 0}

    def flaky(ctx: handlers.Context) -> str | None:
        calls["n"] += 1
        if calls["n"] == 1:
            ctx.resident.name = "临时写入"  # must be rolled back with the failed attempt
            raise RuntimeError("worker hiccup")
        return real(ctx)

    handlers.HANDLERS[("text", None)] = flaky
    yield calls
    handlers.HANDLERS[("text", None)] = real


def test_queued_text_whose_job_fails_is_kept_and_the_retry_files_it_once(wx, org, session, app, run_jobs, flaky_text):
    from jobs.inbound import process_inbound

    assert wx.say("小区门口的消防栓漏水了") == menu.ACK_QUEUED
    run_jobs()  # the first attempt fails; RQ schedules a retry (Retry interval) instead of losing it
    status = select(InboundMessage.id, InboundMessage.status, InboundMessage.attempts, InboundMessage.last_error)
    [(inbound_id, state, attempts, error)] = _rows(session, status)
    assert (state, attempts) == ("failed", 1)
    assert "worker hiccup" in error
    assert _count(session, Appeal) == 0
    assert _scalar(session, select(Resident.name).where(Resident.openid == OPENID)) is None
    assert wx.answers() == []

    with app.app_context():  # what the worker runs when RQ's retry comes due
        assert process_inbound(inbound_id) == "handled"
    with app.app_context():  # a second run (e.g. the sweeper re-enqueued it) changes nothing
        assert process_inbound(inbound_id) == "already handled"
    run_jobs()
    assert _rows(session, status)[0][1:3] == ("handled", 2)
    number = _scalar(session, select(Appeal.number))
    assert _count(session, Appeal) == 1
    [accepted] = [a for a in wx.answers() if "受理" in a]  # intake's answer, sent once
    assert f"编号 {number}" in accepted
