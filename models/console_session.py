"""Staff console sign-in: browser sessions held server-side and the one-time sign-in grants that start them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class ConsoleSession(Base):
    """A signed-in browser of a staff member; the cookie carries a random token, only its SHA-256 is stored."""

    __tablename__ = "console_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Refused once idle past `idle_expires_at` (moved on by each request) or past `expires_at` (never moved).
    idle_expires_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    method: Mapped[str] = mapped_column(String(16))  # link | qr
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class ConsoleSignIn(Base):
    """A one-time way in: a sign-in link (`hongguan staff-login`) or a QR scene waiting for a staff scan."""

    __tablename__ = "console_sign_in"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # link | qr
    # link: SHA-256 of the token in the URL; qr: SHA-256 of the waiting browser's secret (its cookie).
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # qr only: the temporary scene string (login:<nonce>) and the ticket WeChat issued for it.
    scene: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    ticket: Mapped[str | None] = mapped_column(String(200), default=None)
    qr_url: Mapped[str | None] = mapped_column(String(200), default=None)  # the QR's content, drawn as SVG
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    approved_at: Mapped[datetime | None] = mapped_column(default=None)  # qr: the staff member's scan arrived
    used_at: Mapped[datetime | None] = mapped_column(default=None)  # a session was started from it
