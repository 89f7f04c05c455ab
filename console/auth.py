"""Staff authentication for the console API: one bearer token per staff member, stored only as a SHA-256.

Clients send `Authorization: Bearer hgs_…`. The staff row (role, scope, active) is reloaded on every request,
so a deactivated member or a changed role takes effect at once (OWASP API1/API5: never trust a client role).
The lead exposes `issue_staff_token` as `hongguan staff-token STAFF_ID`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from flask import g, request
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra import clock
from infra.http import ApiError
from infra.web import db_session
from models.org import Staff
from models.workflow import StaffToken

TOKEN_PREFIX = "hgs_"  # noqa: S105 - a public prefix that makes leaked tokens greppable, not a secret
# The OpenAPI security requirement of console operations (scheme declared by console.appeals.register).
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


def issue_staff_token(session: Session, staff_id: int) -> str:
    """Create a bearer token for an active staff member and return it (shown once; only its hash is kept)."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active:
        raise ValueError(f"no active staff member with id {staff_id}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(StaffToken(staff_id=staff_id, token_hash=_hash(token), created_at=clock.now()))
    session.flush()
    return token


def revoke_staff_tokens(session: Session, staff_id: int) -> int:
    """Revoke every live token of a staff member; returns how many."""
    result = session.execute(
        update(StaffToken)
        .where(StaffToken.staff_id == staff_id, StaffToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return result.rowcount or 0


def staff_for_token(session: Session, token: str, *, now: datetime | None = None) -> Staff | None:
    """The active staff member a live token belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(
        select(StaffToken).where(StaffToken.token_hash == _hash(token), StaffToken.revoked_at.is_(None))
    )
    if row is None:
        return None
    staff = session.get(Staff, row.staff_id)
    if staff is None or not staff.active:
        return None
    row.last_used_at = now or clock.now()
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
        raise ApiError(401, "invalid_token", "工作人员令牌无效、已撤销，或其所有人已停用")
    g.console_staff = staff
    return staff
