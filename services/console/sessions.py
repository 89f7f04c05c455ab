"""Console browser sessions, stored server-side: idle and absolute expiry, listed and revocable by their owner.

The cookie holds a random token; only its SHA-256 is stored (OWASP Session Management Cheat Sheet: server-side
state, idle and absolute timeouts, revocation).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra import clock
from models.console_session import ConsoleSession
from models.staff import Staff

DEFAULT_IDLE = timedelta(hours=2)
DEFAULT_ABSOLUTE = timedelta(hours=12)


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a session token or sign-in secret (what the database holds)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def start(
    session: Session,
    staff: Staff,
    *,
    method: str,
    user_agent: str = "",
    idle: timedelta = DEFAULT_IDLE,
    absolute: timedelta = DEFAULT_ABSOLUTE,
) -> tuple[str, ConsoleSession]:
    """Start a session for an active staff member; returns (raw token for the cookie, stored row)."""
    now = clock.now()
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        staff_id=staff.id,
        token_hash=hash_secret(token),
        created_at=now,
        last_seen_at=now,
        idle_expires_at=min(now + idle, now + absolute),
        expires_at=now + absolute,
        method=method,
        user_agent=user_agent[:200],
    )
    session.add(row)
    session.flush()
    return token, row


def resolve(session: Session, token: str, *, idle: timedelta = DEFAULT_IDLE) -> tuple[ConsoleSession, Staff] | None:
    """The live session of a cookie token and its active staff member, moving the idle expiry on; else None."""
    if not token or len(token) > 100:
        return None
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.token_hash == hash_secret(token)))
    now = clock.now()
    if row is None or row.revoked_at is not None or row.expires_at <= now or row.idle_expires_at <= now:
        return None
    staff = session.get(Staff, row.staff_id)
    if staff is None or not staff.active:
        return None
    row.last_seen_at = now
    row.idle_expires_at = min(now + idle, row.expires_at)
    return row, staff


def live_sessions(session: Session, staff_id: int) -> list[ConsoleSession]:
    """A staff member's sessions that are neither revoked nor expired, newest first."""
    now = clock.now()
    return list(
        session.scalars(
            select(ConsoleSession)
            .where(
                ConsoleSession.staff_id == staff_id,
                ConsoleSession.revoked_at.is_(None),
                ConsoleSession.expires_at > now,
                ConsoleSession.idle_expires_at > now,
            )
            .order_by(ConsoleSession.id.desc())
        )
    )


def revoke(session: Session, staff_id: int, session_id: int) -> bool:
    """Revoke one of this staff member's own sessions; True when it was live (another's is never touched)."""
    result = session.execute(
        update(ConsoleSession)
        .where(
            ConsoleSession.id == session_id,
            ConsoleSession.staff_id == staff_id,
            ConsoleSession.revoked_at.is_(None),
        )
        .values(revoked_at=clock.now())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def expires_at(row: ConsoleSession) -> datetime:
    """When this session ends if nothing else happens (the earlier of idle and absolute expiry)."""
    return min(row.idle_expires_at, row.expires_at)
