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

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot import binding, handlers, menu
from bot.replies import text_reply
from infra import clock, privacy
from infra.db import DEFERRED_OPTION
from jobs.outbox import commit_and_enqueue
from models.messages import InboundMessage
from models.resident import Resident
from services import intake
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
_INSERT_ID: dict[str, Any] = {}
QUEUED = "queued"
JOB = "jobs.inbound.process_inbound"
MEDIA_TYPES = frozenset({"image", "video", "shortvideo", "location"})


def job_id_for(inbound_id: int) -> str:
    """The stable RQ job id of an inbound message's processing: one job per message, however delivered."""
    return f"inbound-{inbound_id}"


def finish(session: Session, received: Received) -> None:
    """Commit the push's transaction, then enqueue any job a handler deferred. Never raises for Redis.

    A queued message is not enqueued here: its stored `queued` row is the durable record of the work, and
    the relay (jobs/relay.py) hands it to RQ within a fraction of a second, in batches. An enqueue per request
    cost more CPU than the rest of the request together, and the relay is also what recovers from a Redis
    outage, so there is one path instead of two.
    """
    commit_and_enqueue(session)  # commits, then enqueues the handlers' deferred jobs (none on the usual path)


def _insert_id(session: Session, values: dict[str, Any]) -> int | None:
    """The hot path's one write: a Core INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id.

    Every column is given, so no Python-side defaults run; the statement is built once per dialect and
    SQLAlchemy reuses its compiled form. None means the key was already stored (a redelivery).
    """
    dialect = session.get_bind().dialect.name
    stmt = _INSERT_ID.get(dialect)
    if stmt is None:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        table = InboundMessage.__table__
        stmt = _INSERT_ID[dialect] = (
            insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
        )
    return session.connection().execute(stmt, values).scalar_one_or_none()  # Core: no ORM layer


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


def _sqlite_read_first(session: Session) -> bool:
    """On SQLite, begin the session's transaction without the write lock (a deferred BEGIN); False elsewhere,
    or when a transaction is already open."""
    if session.in_transaction() or session.get_bind().dialect.name != "sqlite":
        return False
    session.connection(execution_options={DEFERRED_OPTION: True})
    return True


def _resident_state(session: Session, openid: str) -> str | None:
    """The sender's dialog state ("" for a resident without one, None for someone never seen): one SELECT."""
    state = session.connection().execute(_STATE_BY_OPENID, {"openid": openid}).first()
    return None if state is None else (state[0] or "")


def _has_queued(session: Session, openid: str) -> bool:
    """True while an earlier message of this sender still waits for the worker."""
    return session.connection().execute(_QUEUED_OF_SENDER, {"openid": openid}).first() is not None


# Core statements on the tables (no ORM identity map or unit of work), built once per process.
_INBOUND = InboundMessage.__table__
_RESIDENT = Resident.__table__
_STATE_BY_OPENID = select(_RESIDENT.c.dialog_state).where(_RESIDENT.c.openid == bindparam("openid")).limit(1)
_QUEUED_OF_SENDER = (
    select(_INBOUND.c.id).where(_INBOUND.c.openid == bindparam("openid"), _INBOUND.c.status == QUEUED).limit(1)
)
# Duplicate delivery: count it and read the first delivery's outcome in one statement.
_COUNT_DELIVERY = (
    update(_INBOUND)
    .where(_INBOUND.c.dedupe_key == bindparam("key"))
    .values(deliveries=_INBOUND.c.deliveries + 1)
    .returning(_INBOUND.c.id, _INBOUND.c.reply, _INBOUND.c.status, _INBOUND.c.deliveries)
)


def runs_in_worker(session: Session, fields: dict[str, str], msg_type: str, openid: str) -> bool:
    """Whether this push is answered with a passive acknowledgement and handled by `process_inbound`.

    Free text (and recognised voice) goes to intake, which classifies, routes, dispatches with deadlines and
    notifies: too slow for the request (wechat-protocol.md §1.5). Commands, the binding dialogue, greetings
    and events stay inline: they are fast and their answer is the passive reply. Media and locations follow
    a queued message of the same sender into the worker, so they are handled after it (and attach to the
    appeal it creates) instead of overtaking it.
    """
    if not openid:
        return False
    if msg_type in ("text", "voice"):
        text = fields.get("Content" if msg_type == "text" else "Recognition", "")
        if not text.strip() or handlers.is_command(text):
            return False
        state = _resident_state(session, openid)
        if state and binding.is_active_state(state):
            return False
        return not (intake.is_courtesy(text) and not (state or "").startswith(intake.STATE_CHOOSE))
    if msg_type in MEDIA_TYPES:
        return _has_queued(session, openid)
    return False


def receive(session: Session, fields: dict[str, str], raw_xml: str, *, encrypted: bool, account_id: str) -> Received:
    """Store the push, then (first delivery only) handle it or queue it, and store its reply; caller commits.

    Free text is stored as `queued` with a short acknowledgement as its passive reply, and
    `jobs.inbound.process_inbound` (handed to RQ by the relay, jobs/relay.py; a Redis outage only delays it) runs
    intake and answers through the customer-service API. Everything else is handled
    here; a handler error rolls back only the handler's work (a savepoint): the message stays, marked
    `failed`, the resident gets a short "processing" reply, and the same job retries it.
    """
    now = clock.now()
    key = dedupe_key(fields, raw_xml)
    msg_type = fields.get("MsgType", "").strip().lower()[:32] or "unknown"
    openid = fields.get("FromUserName", "")[:64]
    if _sqlite_read_first(session):
        # The routing read runs in a read transaction of its own, so the write lock is held only for the
        # insert: web workers that overlap under the lock wait in SQLite's busy handler, which sleeps in steps
        # of milliseconds (docs/benchmarks.md, Webhook). A state that changes in between is harmless: the
        # inline handlers and the worker both read it again.
        queued = runs_in_worker(session, fields, msg_type, openid)
        session.commit()
    else:
        queued = runs_in_worker(session, fields, msg_type, openid)
    reply = None
    if queued:
        ack = menu.ACK_QUEUED if msg_type in ("text", "voice") else menu.RETRY_LATER
        reply = text_reply(openid, fields.get("ToUserName") or account_id, ack, int(now.timestamp()))
    row_id = _insert_id(
        session,
        {
            "dedupe_key": key,
            "openid": openid,
            "msg_type": msg_type,
            "event": (fields.get("Event") or None) if msg_type == "event" else None,
            "msg_id": _int(fields.get("MsgId")) or None,
            "wx_create_time": _int(fields.get("CreateTime")),
            "body": raw_xml,
            "encrypted": encrypted,
            "status": QUEUED if queued else "received",
            "reply": reply,
            "deliveries": 1,
            "attempts": 0,
            "received_at": now,
            "handled_at": None,
            "enqueued_at": None,
        },
    )
    if row_id is None:
        first_id, stored_reply, status, deliveries = session.execute(_COUNT_DELIVERY, {"key": key}).one()
        log.info("duplicate delivery %d of inbound %d (%s)", deliveries, first_id, status)
        return Received(first_id, stored_reply, duplicate=True, status=status)
    if queued:
        return Received(row_id, reply, duplicate=False, status=QUEUED)

    row = session.get(InboundMessage, row_id)
    assert row is not None
    ctx = handlers.Context(session=session, fields=fields, inbound=row, account_id=account_id, now=now)
    handlers.prepare(ctx)
    row.attempts = 1
    try:
        with session.begin_nested():
            text = handlers.dispatch(ctx)
    except Exception as e:
        log.exception("handling inbound %d (%s) from %s failed", row.id, msg_type, privacy.pseudonym(ctx.openid))
        row.status = "failed"
        row.last_error = f"{type(e).__name__}: {e}"[:2000]
        defer(session, JOB, row.id, job_id=job_id_for(row.id))
        text = menu.RETRY_LATER if handlers.opens_window(ctx) else None
    else:
        row.status = "handled"
        row.handled_at = clock.now()
    if text:
        row.reply = text_reply(ctx.openid, fields.get("ToUserName") or account_id, text, int(now.timestamp()))
    session.flush()
    return Received(row.id, row.reply, duplicate=False, status=row.status)
