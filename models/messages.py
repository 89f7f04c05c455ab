"""Inbound message log (persisted before anything else) and outbound send log (every call to WeChat)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class InboundMessage(Base):
    """One push from WeChat, stored before dedupe and handling so nothing a resident says is lost."""

    __tablename__ = "inbound_message"
    # The relay's query (status = 'queued' AND enqueued_at IS NULL) and every status filter use this index.
    # push_nonce is unique: a signed push URL (timestamp + nonce) is accepted for one message only.
    __table_args__ = (
        Index("ix_inbound_message_status_enqueued", "status", "enqueued_at"),
        Index("ix_inbound_message_push_nonce", "push_nonce", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # MsgId for messages; FromUserName+CreateTime+Event+EventKey for events (WeChat's recommended keys).
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    msg_type: Mapped[str] = mapped_column(String(32))
    event: Mapped[str | None] = mapped_column(String(64), default=None)
    # WeChat's MsgId (the event's MsgID for delivery receipts): an unsigned 64-bit number, kept as its digits
    # because values of 2^63 and above fit neither database's signed BIGINT.
    msg_id: Mapped[str | None] = mapped_column(String(32), default=None)
    wx_create_time: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)  # decrypted XML
    encrypted: Mapped[bool] = mapped_column(default=False)
    # received -> handled | queued (answer pending in a job) | failed
    status: Mapped[str] = mapped_column(String(16), default="received")
    reply: Mapped[str | None] = mapped_column(Text, default=None)  # passive reply, reused on WeChat's retries
    deliveries: Mapped[int] = mapped_column(default=1)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # Not indexed: every query on it also filters by status (ix_inbound_message_status_enqueued), and each
    # index costs the webhook's insert a B-tree update (revision 0010 dropped it).
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the relay handed a queued message's job to RQ (None: not yet; the webhook itself never enqueues).
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    # "timestamp:nonce" of the signed request that delivered it (None for rows from before revision 0010).
    # WeChat's retries of one message may reuse it; another message under the same signed URL is a replay.
    push_nonce: Mapped[str | None] = mapped_column(String(96), default=None)


class OutboundMessage(Base):
    """One call to a WeChat send API and its result (customer-service, template or subscribe message)."""

    __tablename__ = "outbound_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # custom | template | subscribe | mp_subscribe
    openid: Mapped[str] = mapped_column(String(64), index=True)
    template_id: Mapped[str | None] = mapped_column(String(64), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    # sent | failed | uncertain (WeChat may have delivered it; never resent) | sending (keyed row, claimed)
    status: Mapped[str] = mapped_column(String(16))
    errcode: Mapped[int] = mapped_column(default=0)
    errmsg: Mapped[str] = mapped_column(String(200), default="")
    wx_msgid: Mapped[int | None] = mapped_column(BigInteger, default=None)
    related_type: Mapped[str | None] = mapped_column(String(32), default=None)
    related_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
