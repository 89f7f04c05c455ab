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


def _queue(app, fields: dict[str, str], nonce: str) -> inbound.Received | None:
    engine = get_db(app).engine
    return inbound.queue(engine, fields, "<xml/>", encrypted=True, account_id="gh_t", push_nonce=nonce)


def _stored(app) -> list[tuple]:
    with get_db(app).session(deferred=True) as s:  # a reader: never waits for a writer's lock
        q = select(InboundMessage.msg_id, InboundMessage.status, InboundMessage.push_nonce, InboundMessage.deliveries)
        return [tuple(r) for r in s.execute(q.order_by(InboundMessage.id))]


def test_free_text_is_stored_queued_and_committed_by_the_hot_path_itself(app, clock):
    got = _queue(app, _fields(app, "小区北门的路灯坏了", 1), "100:a")
    assert got is not None
    assert (got.status, got.duplicate) == ("queued", False)
    assert menu.ACK_QUEUED in got.reply_xml
    # Visible to another connection: committed, with no Session involved.
    assert _stored(app) == [("1", "queued", "100:a", 1)]


def test_the_hot_path_leaves_the_sqlite_write_lock_free_when_it_returns(app, clock):
    other = sqlite3.connect(app.config["DATABASE_URL"].removeprefix("sqlite:///"), timeout=0.05, isolation_level=None)
    try:
        _queue(app, _fields(app, "垃圾站三天没有清运", 2), "100:b")
        other.execute("BEGIN IMMEDIATE")  # would raise "database is locked" if the transaction were still open
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_what_stays_inline_is_left_to_handle_in_the_requests_session(app, clock):
    fields = _fields(app, "帮助", 3)
    assert _queue(app, fields, "100:c") is None  # a command: nothing stored by the hot path
    assert _stored(app) == []
    session = get_db(app).session()
    try:
        got = inbound.handle(session, fields, "<xml/>", encrypted=True, account_id="gh_t", push_nonce="100:c")
        assert got.status == "handled"
        assert menu.HELP_TEXT.splitlines()[0] in got.reply_xml
        assert _stored(app) == []  # the caller commits
        inbound.finish(session)
        assert _stored(app) == [("3", "handled", "100:c", 1)]
    finally:
        session.close()


def test_a_redelivery_is_counted_and_a_reused_signed_url_is_refused(app, clock):
    first = _queue(app, _fields(app, "电梯又停了", 4), "100:d")
    again = _queue(app, _fields(app, "电梯又停了", 4), "101:e")  # WeChat's retry, fresh nonce
    assert first is not None
    assert again is not None
    assert (again.inbound_id, again.duplicate, again.reply_xml) == (first.inbound_id, True, first.reply_xml)
    with pytest.raises(inbound.Replayed):
        _queue(app, _fields(app, "另一条消息", 5), "100:d")
    assert _stored(app) == [("4", "queued", "100:d", 2)]


@pytest.mark.postgres
def test_a_msgid_of_2_to_the_64_minus_1_is_stored_on_postgresql(pg_app, clock):
    fields = _fields(pg_app, "小区北门的路灯坏了", 2**64 - 1)
    got = inbound.queue(get_db(pg_app).engine, fields, "<xml/>", encrypted=True, account_id="gh_t", push_nonce="1:a")
    assert got is not None
    assert got.status == "queued"
    assert _stored(pg_app) == [(str(2**64 - 1), "queued", "1:a", 1)]
