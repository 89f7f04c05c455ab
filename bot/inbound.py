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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from bot import binding, handlers, menu
from bot.replies import text_reply
from infra import clock, dbapi, privacy
from jobs.outbox import commit_and_enqueue
from models.appeal import Appeal
from models.messages import InboundMessage
from models.resident import Resident
from services.appeals import evaluation, intake
from services.notifications.outbox import defer
from wechat.xmlsafe import nested_texts

log = logging.getLogger(__name__)


class Replayed(Exception):
    """The push's signed URL (timestamp + nonce) already delivered a different message: a replay."""


@dataclass(frozen=True)
class Received:
    """The outcome of one delivery: the plaintext reply XML to send (None → `success`)."""

    inbound_id: int
    reply_xml: str | None
    duplicate: bool
    status: str


def dedupe_key(fields: Mapping[str, str], raw: str) -> str:
    """WeChat's own rule: MsgId for messages; FromUserName + CreateTime for events, with Event, EventKey and
    the event's MsgID where it carries one (hashed: no openid in it).

    Delivery receipts (TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH, subscribe_msg_sent_event) for different
    messages can reach one user in the same second: their MsgIDs keep them apart. Events without a MsgID get
    the same key as before it was part of the rule.
    """
    msg_id = fields.get("MsgId", "").strip()
    if fields.get("MsgType", "").lower() != "event" and msg_id:
        return f"msg:{msg_id}"
    parts = [fields.get(k, "") for k in ("FromUserName", "CreateTime", "Event", "EventKey")]
    if fields.get("MsgType", "").lower() == "event":
        event_ids = event_msg_ids(fields, raw)
        if event_ids:
            parts.append(",".join(event_ids))
        return "ev:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:48]
    # A message without MsgId is not something WeChat sends; identical bodies are still one message.
    return "body:" + hashlib.sha256(raw.encode()).hexdigest()[:48]


def event_msg_ids(fields: Mapping[str, str], raw: str) -> list[str]:
    """The MsgID(s) an event carries: top-level in delivery receipts, one per <List> item in
    subscribe_msg_sent_event (https://developers.weixin.qq.com/doc/service/api/notify/notify/api_sendnewsubscribemsg.html)."""
    top = (fields.get("MsgID") or fields.get("MsgId") or "").strip()
    if top:
        return [top]
    if "<MsgID>" not in raw and "<MsgId>" not in raw:
        return []
    return [v for v in nested_texts(raw, ("MsgID", "MsgId")) if v]


QUEUED = "queued"
FAILED = "failed"
UNREADABLE = "unreadable"  # msg_type of a push that passed the signature check but could not be decrypted or parsed
JOB = "jobs.inbound.process_inbound"
MEDIA_TYPES = frozenset({"image", "video", "shortvideo", "location"})


def job_id_for(inbound_id: int) -> str:
    """The stable RQ job id of an inbound message's processing: one job per message, however delivered."""
    return f"inbound-{inbound_id}"


def finish(session: Session) -> None:
    """Commit what `handle` did, then enqueue any job a handler deferred. Never raises for Redis.

    A queued message never comes here: `queue` committed it, and its stored `queued` row is the durable record
    of the work, which the relay (jobs/relay.py) hands to RQ within a fraction of a second, in batches. An
    enqueue per request cost more CPU than the rest of the request together, and the relay is also what
    recovers from a Redis outage, so there is one path instead of two.
    """
    commit_and_enqueue(session)  # commits, then enqueues the handlers' deferred jobs


def _insert_stmt(dialect: str) -> ClauseElement:
    """INSERT … ON CONFLICT DO NOTHING: no target, so a second delivery (dedupe_key) and a reused signed URL
    (push_nonce) both insert nothing, on SQLite and PostgreSQL alike.

    RETURNING id on PostgreSQL only: on SQLite the driver's row count and last rowid say the same, and
    RETURNING made the hot path's insert measurably dearer there (docs/benchmarks.md, Webhook)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(_INBOUND).values({c: bindparam(c) for c in _COLUMNS}).on_conflict_do_nothing()
    return stmt if dialect == "sqlite" else stmt.returning(_INBOUND.c.id)


class _Run(Protocol):
    """Runs the module's statements: a raw transaction (dbapi.Transaction), or a session's connection."""

    def first(self, statement: dbapi.Statements, values: Mapping[str, Any]) -> tuple[Any, ...] | None: ...

    def insert(self, statement: dbapi.Statements, values: Mapping[str, Any]) -> int | None: ...


class _InSession:
    """`_Run` on a session's connection (Core: no ORM layer), for pushes handled inside a session."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._dialect = session.get_bind().dialect

    def first(self, statement: dbapi.Statements, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The statement's first row, or None."""
        row = self._session.connection().execute(statement.stmt(self._dialect), values).first()
        return tuple(row) if row is not None else None

    def insert(self, statement: dbapi.Statements, values: Mapping[str, Any]) -> int | None:
        """The new row's id, or None when nothing was inserted (as dbapi.Transaction.insert)."""
        result = self._session.connection().execute(statement.stmt(self._dialect), values)
        if result.returns_rows:
            row = result.first()
            return row[0] if row is not None else None
        return result.lastrowid if result.rowcount == 1 else None


def _redelivery(run: _Run, key: str, push_nonce: str | None) -> Received:
    """After an insert that stored nothing: WeChat delivering the same message again (counted, and answered
    with the first delivery's reply), or its signed URL reused for another message (Replayed).

    WeChat's retries repeat the message (same dedupe key) with the same or a fresh nonce; a replay carries a
    captured URL with a different body. In plaintext mode the signature does not cover the body (only safe
    mode's msg_signature does), so this is what keeps a captured URL from carrying forged content.
    """
    if push_nonce:
        owner = run.first(_NONCE_OWNER, {"push_nonce": push_nonce})
        if owner is not None and owner[0] != key:
            raise Replayed(push_nonce)
    row = run.first(_COUNT_DELIVERY, {"key": key})
    if row is None:  # the conflict was on neither: only if the row vanished in between
        raise Replayed(push_nonce or key)
    first_id, stored_reply, status, deliveries = row
    log.info("duplicate delivery %d of inbound %d (%s)", deliveries, first_id, status)
    return Received(first_id, stored_reply, duplicate=True, status=status)


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


def persist_unreadable(
    session: Session,
    raw: str,
    *,
    openid: str,
    timestamp: int,
    encrypted: bool,
    error: str,
    push_nonce: str | None = None,
) -> int | None:
    """Keep a push that passed the signature check but could not be decrypted or parsed (nothing is lost).

    Stored as status `failed` so an operator can find it (e.g. after a mistaken key rotation); returns its id,
    or None when the same body (or the same signed URL) was already stored.
    """
    values = {
        **_EMPTY_ROW,
        "dedupe_key": "raw:" + hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()[:48],
        "openid": openid[:64] or "-",
        "msg_type": UNREADABLE,
        "wx_create_time": timestamp,
        "body": raw[:65536],
        "encrypted": encrypted,
        "status": FAILED,
        "last_error": error[:500],
        "received_at": clock.now(),
        "push_nonce": push_nonce,
    }
    return _InSession(session).insert(_INSERT_ID, values)


# Core statements on the tables (no ORM identity map or unit of work), built once per process.
_INBOUND = InboundMessage.__table__
_RESIDENT = Resident.__table__
_APPEAL = Appeal.__table__
# Every column but the id, so that no Python-side default runs and one compiled form serves every insert.
_COLUMNS = tuple(c.name for c in _INBOUND.columns if c.name != "id")
_EMPTY_ROW: dict[str, Any] = {
    **dict.fromkeys(_COLUMNS),
    "encrypted": False,
    "deliveries": 1,
    "attempts": 0,
}
_INSERT_ID = dbapi.Statements(_insert_stmt)
_STATE_BY_OPENID = dbapi.Statements(
    lambda _: select(_RESIDENT.c.dialog_state).where(_RESIDENT.c.openid == bindparam("openid")).limit(1)
)
_QUEUED_OF_SENDER = dbapi.Statements(
    lambda _: (
        select(_INBOUND.c.id)
        .where(_INBOUND.c.openid == bindparam("openid"), _INBOUND.c.status == bindparam("status"))
        .limit(1)
    )
)
# Only read for a possible rating ("1", "满意" …): does an appeal of the sender wait for one?
_AWAITING_RATING = dbapi.Statements(
    lambda _: (
        select(_APPEAL.c.id)
        .join(_RESIDENT, _APPEAL.c.resident_id == _RESIDENT.c.id)
        .where(
            _RESIDENT.c.openid == bindparam("openid"),
            _APPEAL.c.status == bindparam("status"),
            _APPEAL.c.kind == "appeal",
        )
        .limit(1)
    )
)
_NONCE_OWNER = dbapi.Statements(
    lambda _: select(_INBOUND.c.dedupe_key).where(_INBOUND.c.push_nonce == bindparam("push_nonce"))
)
# Duplicate delivery: count it and read the first delivery's outcome in one statement.
_COUNT_DELIVERY = dbapi.Statements(
    lambda _: (
        update(_INBOUND)
        .where(_INBOUND.c.dedupe_key == bindparam("key"))
        .values(deliveries=_INBOUND.c.deliveries + 1)
        .returning(_INBOUND.c.id, _INBOUND.c.reply, _INBOUND.c.status, _INBOUND.c.deliveries)
    )
)


def might_run_in_worker(fields: Mapping[str, str], msg_type: str, openid: str) -> bool:
    """False when `route` is sure to say inline without reading anything (events, commands, empty text)."""
    if not openid:
        return False
    if msg_type in ("text", "voice"):
        text = fields.get("Content" if msg_type == "text" else "Recognition", "")
        return bool(text.strip()) and not handlers.is_command(text)
    return msg_type in MEDIA_TYPES


@dataclass(frozen=True)
class Route:
    """Where a push is handled: in the worker (with `ack` as its passive reply, None for none) or inline."""

    worker: bool
    ack: str | None = None


INLINE = Route(worker=False)


def route(
    fields: Mapping[str, str],
    msg_type: str,
    state_of: Callable[[], str | None],
    has_queued: Callable[[], bool],
    awaits_rating: Callable[[], bool],
) -> Route:
    """Whether this push is handled by `process_inbound` (and what the passive reply says) or inline.

    Free text (and recognised voice) goes to intake, which classifies, routes, dispatches with deadlines and
    notifies: too slow for WeChat's 5-second answer window, so it is acknowledged and answered later
    (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html).
    Commands, the binding dialogue, greetings and events stay inline: they are fast and their answer is the
    passive reply. So do a resident's steps on an existing appeal — a picker digit answering "which appeal?",
    催办 / 重办 / 撤回, and a rating while an appeal awaits one: their outcome is the one message the resident
    gets. Anything that only waits for the worker because an earlier message of the sender is still queued
    (media, locations, such steps), or whose outcome the acknowledgement would misstate (text while the
    "which appeal?" question is open: it is held, not registered), gets no acknowledgement: the worker's
    answer is the one message. `state_of()` reads the sender's dialog state ("" for none, None for someone
    never seen), `has_queued()` whether a message of theirs waits for the worker, `awaits_rating()` whether
    an appeal of theirs waits for a rating; call only after `might_run_in_worker` said yes.
    """
    if msg_type not in ("text", "voice"):
        return Route(worker=True, ack=menu.RETRY_LATER) if has_queued() else INLINE
    text = fields.get("Content" if msg_type == "text" else "Recognition", "")
    state = state_of() or ""
    if state and binding.is_active_state(state):
        return INLINE
    choosing = state.startswith(intake.STATE_CHOOSE)
    if intake.is_courtesy(text) and not choosing:
        return INLINE
    if choosing:
        # A picker digit only adds the held text to the chosen appeal; "0" files it as new (intake's work).
        step = intake.is_choice_digit(text) and not intake.is_new_choice(text)
        if step and not has_queued():
            return INLINE
        return Route(worker=True)
    if evaluation.is_chat_action(text) or (evaluation.parse_rating(text) is not None and awaits_rating()):
        return Route(worker=True) if has_queued() else INLINE
    return Route(worker=True, ack=menu.ACK_QUEUED)


def _queue(run: _Run, values: dict[str, Any], fields: Mapping[str, str], account_id: str) -> Received | None:
    """Decide whether the push goes to the worker and, if so, store it as `queued` with its acknowledgement as
    the passive reply; None when it is handled inline instead (nothing stored yet)."""
    openid, msg_type = values["openid"], values["msg_type"]

    def state_of() -> str | None:
        row = run.first(_STATE_BY_OPENID, {"openid": openid})
        return None if row is None else (row[0] or "")

    def has_queued() -> bool:
        return run.first(_QUEUED_OF_SENDER, {"openid": openid, "status": QUEUED}) is not None

    def awaits_rating() -> bool:
        return run.first(_AWAITING_RATING, {"openid": openid, "status": "resolved"}) is not None

    decided = route(fields, msg_type, state_of, has_queued, awaits_rating)
    if not decided.worker:
        return None
    reply = None
    if decided.ack is not None:
        created = int(values["received_at"].timestamp())
        reply = text_reply(openid, fields.get("ToUserName") or account_id, decided.ack, created)
    inserted = run.insert(_INSERT_ID, {**values, "status": QUEUED, "reply": reply})
    if inserted is None:
        return _redelivery(run, values["dedupe_key"], values["push_nonce"])
    return Received(inserted, reply, duplicate=False, status=QUEUED)


def _msg_id(fields: Mapping[str, str], raw_xml: str, msg_type: str) -> str | None:
    """The message's MsgId, or an event's (first) MsgID, as WeChat wrote it (digits; at most 32 kept)."""
    if msg_type == "event":
        ids = event_msg_ids(fields, raw_xml)
        return ids[0][:32] if ids else None
    return fields.get("MsgId", "").strip()[:32] or None


def row_values(fields: Mapping[str, str], raw_xml: str, *, encrypted: bool, push_nonce: str | None) -> dict[str, Any]:
    """The inbound row's values for a push, as first stored (status `received`)."""
    msg_type = fields.get("MsgType", "").strip().lower()[:32] or "unknown"
    return {
        **_EMPTY_ROW,
        "dedupe_key": dedupe_key(fields, raw_xml),
        "openid": fields.get("FromUserName", "")[:64],
        "msg_type": msg_type,
        "event": (fields.get("Event") or None) if msg_type == "event" else None,
        "msg_id": _msg_id(fields, raw_xml, msg_type),
        "wx_create_time": _int(fields.get("CreateTime")),
        "body": raw_xml,
        "encrypted": encrypted,
        "status": "received",
        "received_at": clock.now(),
        "push_nonce": push_nonce,
    }


def queue(
    engine: Engine,
    fields: Mapping[str, str],
    raw_xml: str,
    *,
    encrypted: bool,
    account_id: str,
    push_nonce: str | None = None,
) -> Received | None:
    """The webhook's hot path: store a push that goes to the worker as `queued`, committed; None when it is
    handled inline instead (nothing stored: call `handle`).

    Free text (and recognised voice) is stored with a short acknowledgement as its passive reply, and
    `jobs.inbound.process_inbound` (handed to RQ by the relay, jobs/relay.py; a Redis outage only delays it)
    runs intake and answers through the customer-service API. It is one short transaction on a raw
    connection (infra/dbapi.py), and no Session is opened: on SQLite it takes the write lock at BEGIN, so the
    read of the sender's state and the insert are serialisable, and the lock is held for tens of
    microseconds. A redelivery is answered with the stored reply; Replayed is raised when `push_nonce`
    ("timestamp:nonce" of the signed URL) already delivered a different message.
    """
    values = row_values(fields, raw_xml, encrypted=encrypted, push_nonce=push_nonce)
    if not might_run_in_worker(fields, values["msg_type"], values["openid"]):
        return None
    with dbapi.transaction(engine) as tx:
        return _queue(tx, values, fields, account_id)


def handle(
    session: Session,
    fields: dict[str, str],
    raw_xml: str,
    *,
    encrypted: bool,
    account_id: str,
    push_nonce: str | None = None,
    default_community: str = "",
) -> Received:
    """Store the push and (first delivery only) handle it inline in `session`, storing its reply; the caller
    commits (`finish`). `default_community` is the DEFAULT_COMMUNITY setting (see handlers.Context).

    For what `queue` leaves inline: commands, the binding dialogue, greetings, events. A handler error rolls
    back only the handler's work (a savepoint): the message stays, marked `failed`, the resident gets a short
    "processing" reply, and the same job retries it. Replayed as for `queue`.
    """
    values = row_values(fields, raw_xml, encrypted=encrypted, push_nonce=push_nonce)
    run = _InSession(session)
    inserted = run.insert(_INSERT_ID, values)
    if inserted is None:
        return _redelivery(run, values["dedupe_key"], push_nonce)

    row = session.get(InboundMessage, inserted)
    assert row is not None
    now = values["received_at"]
    ctx = handlers.Context(
        session=session, fields=fields, inbound=row, account_id=account_id, now=now,
        default_community=default_community,
    )  # fmt: skip
    handlers.prepare(ctx)
    row.attempts = 1
    try:
        with session.begin_nested():
            text = handlers.dispatch(ctx)
    except Exception as e:
        log.exception("handling inbound %d (%s) from %s failed", row.id, row.msg_type, privacy.pseudonym(ctx.openid))
        row.status = FAILED
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
