"""Staff authentication for the console API: one bearer token per staff member, stored only as a SHA-256.

Clients send `Authorization: Bearer hgs_…`. The staff row (role, scope, active) is reloaded on every request,
so a deactivated member or a changed role takes effect at once (OWASP API1/API5: never trust a client role).
Every token expires (HONGGUAN_STAFF_TOKEN_TTL, or --ttl when issued) and can be revoked at once, alone or all
of a member's: `hongguan staff-token STAFF_ID [--ttl SECONDS]`, `hongguan staff-token revoke …` (cli/staff_tokens.py).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import g, request
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra import clock
from infra.http import ApiError
from infra.web import db_session
from models.staff import Staff, StaffToken

TOKEN_PREFIX = "hgs_"  # noqa: S105 - a public prefix that makes leaked tokens greppable, not a secret
# The OpenAPI security requirement of console operations (wsgi declares the scheme on the app).
STAFF_BEARER = [{"staff_bearer": []}]
SECURITY_SCHEMES = {
    "staff_bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "a staff token issued with `hongguan staff-token STAFF_ID` (hgs_…)",
    }
}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


DEFAULT_TTL = timedelta(days=30)  # the STAFF_TOKEN_TTL setting's default


def issue_staff_token(session: Session, staff_id: int, *, ttl: timedelta = DEFAULT_TTL) -> str:
    """Create a bearer token for an active staff member, valid for `ttl`, and return it (shown once)."""
    if ttl <= timedelta(0):
        raise ValueError("a token's lifetime must be positive")
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active:
        raise ValueError(f"no active staff member with id {staff_id}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    session.add(StaffToken(staff_id=staff_id, token_hash=_hash(token), created_at=now, expires_at=now + ttl))
    session.flush()
    return token


def token_expiry(session: Session, token: str) -> datetime | None:
    """When a token expires (None when it is unknown)."""
    return session.scalar(select(StaffToken.expires_at).where(StaffToken.token_hash == _hash(token)))


def revoke_staff_token(session: Session, token: str) -> bool:
    """Revoke one token given in full (a leaked one); True when it was live."""
    result = session.execute(
        update(StaffToken)
        .where(StaffToken.token_hash == _hash(token), StaffToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_staff_tokens(session: Session, staff_id: int) -> int:
    """Revoke every live (unexpired, unrevoked) token of a staff member; returns how many."""
    now = clock.now()
    result = session.execute(
        update(StaffToken)
        .where(StaffToken.staff_id == staff_id, StaffToken.revoked_at.is_(None), StaffToken.expires_at > now)
        .values(revoked_at=now)
    )
    return result.rowcount or 0


def staff_for_token(session: Session, token: str, *, now: datetime | None = None) -> Staff | None:
    """The active staff member a live (known, unexpired, unrevoked) token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    now = now or clock.now()
    row = session.scalar(
        select(StaffToken).where(StaffToken.token_hash == _hash(token), StaffToken.revoked_at.is_(None))
    )
    if row is None or row.expires_at <= now:
        return None
    staff = session.get(Staff, row.staff_id)
    if staff is None or not staff.active:
        return None
    row.last_used_at = now
    return staff


def current_staff() -> Staff:
    """The authenticated staff member of this request (401 without a valid token, cached per request)."""
    staff: Staff | None = g.get("console_staff")
    if staff is not None:
        return staff
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "需要工作人员登录：请求头需带 Authorization: Bearer <staff token>")
    session = db_session()
    staff = staff_for_token(session, token.strip())
    if staff is None:
        session.rollback()
        raise ApiError(401, "invalid_token", "工作人员令牌无效、已过期、已撤销，或其所有人已停用")
    g.console_staff = staff
    return staff
