"""Stored pushes that failed, for an operator: count them, list them, retry one.

A push that passed the signature check is always stored, even when it could not be decrypted (a mistaken
EncodingAESKey rotation) or parsed; a message whose handling kept failing stays `failed` once its retries
are spent. Neither is ever marked handled by a sweep: they wait here until someone looks. A retry reads an
unreadable push again with the keys configured now and, once readable, queues it like a fresh message (the
relay and `jobs.inbound.process_inbound` take it from there). Flask-free; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.inbound import FAILED, QUEUED, UNREADABLE, row_values
from infra import clock
from models.messages import InboundMessage
from services.errors import Conflict, NotFound
from wechat.crypto import ILLEGAL_AES_KEY, CryptoError, MessageCrypto
from wechat.xmlsafe import XmlError, parse_xml

# What a retry rewrites from the push once it can be read (the rest of the row is its history).
_READ_COLUMNS = ("dedupe_key", "msg_type", "event", "msg_id", "wx_create_time", "body")


@dataclass(frozen=True)
class FailedMessage:
    """One failed push as an operator sees it (the openid stays in the database)."""

    id: int
    received_at: datetime
    msg_type: str
    event: str | None
    encrypted: bool
    attempts: int
    last_error: str


@dataclass(frozen=True)
class Retried:
    """The outcome of a retry: `queued` (handed to the worker), `unreadable` (still), or `duplicate`
    (WeChat's own redelivery of the same message was stored and handled meanwhile)."""

    id: int
    outcome: str
    detail: str


def count_failed(session: Session) -> int:
    """How many stored pushes are failed (what /healthz reports)."""
    return session.scalar(select(func.count()).select_from(InboundMessage).where(InboundMessage.status == FAILED)) or 0


def list_failed(session: Session, *, limit: int = 50) -> list[FailedMessage]:
    """The oldest failed pushes first, at most `limit`."""
    rows = session.execute(
        select(
            InboundMessage.id,
            InboundMessage.received_at,
            InboundMessage.msg_type,
            InboundMessage.event,
            InboundMessage.encrypted,
            InboundMessage.attempts,
            InboundMessage.last_error,
        )
        .where(InboundMessage.status == FAILED)
        .order_by(InboundMessage.id)
        .limit(limit)
    )
    return [
        FailedMessage(r.id, r.received_at, r.msg_type, r.event, r.encrypted, r.attempts, r.last_error or "")
        for r in rows
    ]


def retry(session: Session, inbound_id: int, cryptos: Sequence[MessageCrypto]) -> Retried:
    """Queue a failed push again; an unreadable one is first decrypted (with `cryptos`, current key first)
    and parsed again. NotFound for an unknown id, Conflict for a push that is not failed."""
    row = session.get(InboundMessage, inbound_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no inbound message {inbound_id}")
    if row.status != FAILED:
        raise Conflict(f"inbound message {inbound_id} is {row.status}, not failed")
    if row.msg_type == UNREADABLE:
        try:
            plain, fields = _read(row.body, encrypted=row.encrypted, cryptos=cryptos)
        except (CryptoError, XmlError) as e:
            row.last_error = f"{type(e).__name__}: {e}"[:2000]
            session.flush()
            return Retried(row.id, "unreadable", row.last_error)
        values = row_values(fields, plain, encrypted=row.encrypted, push_nonce=row.push_nonce)
        twin = session.scalar(select(InboundMessage.id).where(InboundMessage.dedupe_key == values["dedupe_key"]))
        if twin is not None:
            row.status = "handled"
            row.handled_at = clock.now()
            row.last_error = f"duplicate of inbound message {twin}"
            session.flush()
            return Retried(row.id, "duplicate", row.last_error)
        for column in _READ_COLUMNS:
            setattr(row, column, values[column])
        row.openid = values["openid"] or row.openid
    row.status = QUEUED
    row.attempts = 0  # a full set of retries again, so a job lost now is still resumed by the sweep
    row.enqueued_at = None  # the relay hands it to RQ
    row.handled_at = None
    session.flush()
    return Retried(row.id, QUEUED, f"{row.msg_type} queued for the worker")


def _read(body: str, *, encrypted: bool, cryptos: Sequence[MessageCrypto]) -> tuple[str, dict[str, str]]:
    """The push's plaintext XML and fields; CryptoError or XmlError when it still cannot be read."""
    outer = parse_xml(body)
    if not encrypted:
        return body, outer
    error = CryptoError(ILLEGAL_AES_KEY, "no EncodingAESKey configured")
    for crypto in cryptos:
        try:
            plain = crypto.decrypt(outer.get("Encrypt", ""))
        except CryptoError as e:
            error = e
            continue
        return plain, parse_xml(plain)
    raise error
