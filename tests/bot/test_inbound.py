"""bot/inbound.py: the hot path stores a queued message in its own short transaction; replays are refused."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import select

from bot import inbound, menu
from infra.web import get_db
from models import InboundMessage
from wechat.chat import FakeWeChat

OPENID = "oResidentBob00000000000001"


def _fields(app, text: str, msg_id: int) -> dict[str, str]:
    cfg = app.config
    fake = FakeWeChat(cfg["WECHAT_TOKEN"], cfg["WECHAT_AES_KEY"], cfg["WECHAT_APPID"], OPENID, account_id="gh_t")
    return {k: str(v) for k, v in fake.fields("text", Content=text, MsgId=msg_id).items()}


def _receive(session, fields: dict[str, str], nonce: str) -> inbound.Received:
    return inbound.receive(session, fields, "<xml/>", encrypted=True, account_id="gh_t", push_nonce=nonce)


def _stored(app) -> list[tuple]:
    with get_db(app).transaction() as s:
        q = select(InboundMessage.msg_id, InboundMessage.status, InboundMessage.push_nonce, InboundMessage.deliveries)
        return [tuple(r) for r in s.execute(q.order_by(InboundMessage.id))]


def test_free_text_is_stored_queued_and_committed_by_the_hot_path_itself(app, clock):
    session = get_db(app).session()
    try:
        got = _receive(session, _fields(app, "小区北门的路灯坏了", 1), "100:a")
        assert (got.status, got.duplicate) == ("queued", False)
        assert menu.ACK_QUEUED in got.reply_xml
        assert not session.in_transaction()  # the session was not used
        # Visible to another connection before the caller commits anything.
        assert _stored(app) == [(1, "queued", "100:a", 1)]
    finally:
        session.close()


def test_the_hot_path_leaves_the_sqlite_write_lock_free_when_it_returns(app, clock):
    session = get_db(app).session()
    other = sqlite3.connect(app.config["DATABASE_URL"].removeprefix("sqlite:///"), timeout=0.05, isolation_level=None)
    try:
        _receive(session, _fields(app, "垃圾站三天没有清运", 2), "100:b")
        other.execute("BEGIN IMMEDIATE")  # would raise "database is locked" if the transaction were still open
        other.execute("ROLLBACK")
    finally:
        session.close()
        other.close()


def test_inside_a_callers_transaction_the_message_is_part_of_it(app, clock):
    session = get_db(app).session()
    try:
        session.execute(select(InboundMessage.id).limit(1)).all()  # the caller's transaction is open
        got = _receive(session, _fields(app, "楼道灯不亮", 3), "100:c")
        assert got.status == "queued"
        session.rollback()
        assert _stored(app) == []  # it went with the caller's transaction
    finally:
        session.close()


def test_a_redelivery_is_counted_and_a_reused_signed_url_is_refused(app, clock):
    session = get_db(app).session()
    try:
        first = _receive(session, _fields(app, "电梯又停了", 4), "100:d")
        again = _receive(session, _fields(app, "电梯又停了", 4), "101:e")  # WeChat's retry, fresh nonce
        assert (again.inbound_id, again.duplicate, again.reply_xml) == (first.inbound_id, True, first.reply_xml)
        with pytest.raises(inbound.Replayed):
            _receive(session, _fields(app, "另一条消息", 5), "100:d")
        assert _stored(app) == [(4, "queued", "100:d", 2)]
    finally:
        session.close()
