"""Persist → dedupe → handle: what happens to a push once its signature, freshness and decryption are settled.

WeChat delivers a push up to three times when it gets no answer within 5 s, with the same MsgId
(https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html:
"有msgid的消息推荐使用msgid排重。事件类型消息推荐使用FromUserName + CreateTime 排重").
The inbound log's unique `dedupe_key` makes the first delivery the only one with an effect; later ones get
the stored reply. Flask-free: the view and the retry job (jobs/inbound.py) both use it; the caller commits.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot import handlers, menu
from bot.replies import text_reply
from infra import clock, privacy
from models.messages import InboundMessage
from services.outbox import defer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """The outcome of one delivery: the plaintext reply XML to send (None → `success`)."""

    inbound_id: int
    reply_xml: str | None
    duplicate: bool
    status: str


def dedupe_key(fields: dict[str, str], raw: str) -> str:
    """MsgId for messages; FromUserName+CreateTime+Event+EventKey for events (hashed: no openid in it)."""
    msg_id = fields.get("MsgId", "").strip()
    if fields.get("MsgType", "").lower() != "event" and msg_id:
        return f"msg:{msg_id}"
    parts = [fields.get(k, "") for k in ("FromUserName", "CreateTime", "Event", "EventKey")]
    if fields.get("MsgType", "").lower() == "event":
        return "ev:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:48]
    # A message without MsgId is not something WeChat sends; identical bodies are still one message.
    return "body:" + hashlib.sha256(raw.encode()).hexdigest()[:48]


_INSERT_IGNORE: dict[str, Any] = {}


def _insert_ignore(session: Session, values: dict) -> InboundMessage | None:
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING the row: the new row, or None for a known key.

    On PostgreSQL a concurrent duplicate waits here for the first delivery's commit, then sees the key.
    """
    dialect = session.get_bind().dialect.name
    stmt = _INSERT_IGNORE.get(dialect)
    if stmt is None:
        # Built once per dialect, values passed as parameters: SQLAlchemy then reuses its compiled form
        # instead of re-deriving a cache key from literal values on every push.
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = _INSERT_IGNORE[dialect] = (
            insert(InboundMessage)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(InboundMessage)  # the ORM object itself: no second SELECT to load it
        )
    return session.scalars(stmt, [values]).one_or_none()


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


def persist_unreadable(
    session: Session, raw: str, *, openid: str, timestamp: int, encrypted: bool, error: str
) -> int | None:
    """Keep a push that passed the signature check but could not be decrypted or parsed (nothing is lost).

    Stored as status `failed` so an operator can find it (e.g. after a mistaken key rotation); returns its id,
    or None when the same body was already stored.
    """
    values = {
        "dedupe_key": "raw:" + hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()[:48],
        "openid": openid[:64] or "-",
        "msg_type": "unreadable",
        "wx_create_time": timestamp,
        "body": raw[:65536],
        "encrypted": encrypted,
        "status": "failed",
        "last_error": error[:500],
        "received_at": clock.now(),
    }
    row = _insert_ignore(session, values)
    return row.id if row is not None else None


def receive(
    session: Session, fields: dict[str, str], raw_xml: str, *, encrypted: bool, account_id: str
) -> Received:
    """Store the push, then (first delivery only) handle it and store its reply; the caller commits.

    A handler error rolls back only the handler's work (a savepoint): the message stays, marked `failed`, the
    resident gets a short "processing" reply, and `jobs.inbound.process_inbound` retries it and answers
    through the customer-service API.
    """
    now = clock.now()
    key = dedupe_key(fields, raw_xml)
    msg_type = fields.get("MsgType", "").strip().lower()[:32] or "unknown"
    row = _insert_ignore(
        session,
        {
            "dedupe_key": key,
            "openid": fields.get("FromUserName", "")[:64],
            "msg_type": msg_type,
            "event": (fields.get("Event") or None) if msg_type == "event" else None,
            "msg_id": _int(fields.get("MsgId")) or None,
            "wx_create_time": _int(fields.get("CreateTime")),
            "body": raw_xml,
            "encrypted": encrypted,
            "status": "received",
            "received_at": now,
        },
    )
    if row is None:
        session.execute(
            update(InboundMessage)
            .where(InboundMessage.dedupe_key == key)
            .values(deliveries=InboundMessage.deliveries + 1)
        )
        row = session.scalars(select(InboundMessage).where(InboundMessage.dedupe_key == key)).one()
        log.info("duplicate delivery %d of inbound %d (%s)", row.deliveries, row.id, row.status)
        return Received(row.id, row.reply, duplicate=True, status=row.status)

    ctx = handlers.Context(session=session, fields=fields, inbound=row, account_id=account_id, now=now)
    handlers.prepare(ctx)
    row.attempts = 1
    try:
        with session.begin_nested():
            text = handlers.dispatch(ctx)
    except Exception as e:
        log.exception(
            "handling inbound %d (%s) from %s failed", row.id, msg_type, privacy.pseudonym(ctx.openid)
        )
        row.status = "failed"
        row.last_error = f"{type(e).__name__}: {e}"[:2000]
        defer(session, "jobs.inbound.process_inbound", row.id, job_id=f"inbound-{row.id}")
        text = menu.RETRY_LATER if handlers.opens_window(ctx) else None
    else:
        row.status = "handled"
        row.handled_at = clock.now()
    if text:
        row.reply = text_reply(ctx.openid, fields.get("ToUserName") or account_id, text, int(now.timestamp()))
    session.flush()
    return Received(row.id, row.reply, duplicate=False, status=row.status)
