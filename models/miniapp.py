"""Mini-program sessions and the cached answers of `Idempotency-Key` requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


def _public_id() -> str:
    return uuid.uuid4().hex


class MiniappSession(Base):
    """A hongguan session token issued after code2Session; only the token's SHA-256 is stored.

    `session_key` is WeChat's key for decrypting the resident's encryptedData: it stays on the server
    (never returned, never logged; code2Session doc: 开发者服务器不应该把会话密钥下发到小程序).
    """

    __tablename__ = "miniapp_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    openid: Mapped[str] = mapped_column(String(64))
    session_key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    def __repr__(self) -> str:  # never show the session_key, even in a debugger or a log line
        return f"<MiniappSession id={self.id} resident_id={self.resident_id} expires_at={self.expires_at}>"


class IdempotencyRecord(Base):
    """The first answer to a POST carrying an Idempotency-Key; UNIQUE(resident, key) makes the claim atomic."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("resident_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(default=None)  # None while the first request runs
    response_body: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
