"""Mini-program identity: one Resident per person, hongguan's own opaque session tokens, and roles.

WeChat login (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html): the
client's `wx.login` code is exchanged server-side for {openid, session_key, unionid?}. hongguan then issues its
own random token; only the token's SHA-256 is stored, and `session_key` never leaves the server.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra import privacy
from models.miniapp import MiniappSession
from models.resident import Resident
from models.staff import Staff
from services.points.ledger import partner_id_for_resident

log = logging.getLogger(__name__)

ROLES = ("resident", "volunteer", "grid_leader", "staff", "partner")
DEFAULT_SESSION_TTL = timedelta(days=7)


@dataclass(frozen=True)
class Identity:
    """Who a session token belongs to, with the roles derived from the data (never from the client)."""

    resident_id: int
    roles: frozenset[str]
    staff_id: int | None
    partner_id: int | None


# The points area owns partner units; a lookup is `fn(session, resident_id) -> partner_id | None`.
PartnerLookup = Callable[[Session, int], "int | None"]
_partner_lookups: list[PartnerLookup] = []


def register_partner_lookup(fn: PartnerLookup) -> PartnerLookup:
    """Register a function telling whether a resident belongs to a partner unit (联盟单位); usable as decorator."""
    if fn not in _partner_lookups:
        _partner_lookups.append(fn)
    return fn


def _default_partner_lookups() -> list[PartnerLookup]:
    """Membership of a partner unit as the points ledger records it (PartnerMember rows)."""
    return [partner_id_for_resident]


def hash_token(token: str) -> str:
    """SHA-256 hex of a session token: what the database stores and looks up."""
    return hashlib.sha256(token.encode()).hexdigest()


def find_or_create_resident(session: Session, *, openid: str, unionid: str | None) -> Resident:
    """The one Resident behind this mini-program openid, joined by unionid with the official-account side."""
    resident: Resident | None = None
    if unionid:
        resident = session.scalar(select(Resident).where(Resident.unionid == unionid))
    if resident is None:
        resident = session.scalar(select(Resident).where(Resident.miniapp_openid == openid))
    if resident is None:
        resident = Resident(miniapp_openid=openid, unionid=unionid)
        try:
            with session.begin_nested():  # a concurrent first login of the same person may win the unique
                session.add(resident)
                session.flush()
        except IntegrityError:
            resident = session.scalar(
                select(Resident).where(
                    or_(Resident.miniapp_openid == openid, Resident.unionid == unionid)
                    if unionid
                    else Resident.miniapp_openid == openid
                )
            )
            if resident is None:  # pragma: no cover - the unique that failed must name an existing row
                raise
        return resident
    # Fill in whichever side is new (the OA resident logging in to the mini-program for the first time).
    if resident.miniapp_openid is None:
        resident.miniapp_openid = openid
    if unionid and resident.unionid is None:
        resident.unionid = unionid
    session.flush()
    return resident


def login(
    session: Session,
    *,
    openid: str,
    session_key: str,
    unionid: str | None,
    now: datetime,
    ttl: timedelta = DEFAULT_SESSION_TTL,
) -> tuple[str, MiniappSession]:
    """Start a session for the person code2Session named; returns (raw token for the client, stored row)."""
    resident = find_or_create_resident(session, openid=openid, unionid=unionid)
    token = secrets.token_urlsafe(32)
    row = MiniappSession(
        token_hash=hash_token(token),
        resident_id=resident.id,
        openid=openid,
        session_key=session_key,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    # WeChat may rotate session_key on every wx.login: keep only the newest one for this person's live sessions.
    session.execute(
        update(MiniappSession)
        .where(MiniappSession.resident_id == resident.id, MiniappSession.revoked_at.is_(None))
        .values(session_key=session_key)
    )
    session.flush()
    log.info("mini-program login resident=%s openid=%s", resident.id, privacy.pseudonym(openid))
    return token, row


def resolve(session: Session, token: str, *, now: datetime) -> MiniappSession | None:
    """The live session for a raw token, or None if unknown, expired, revoked or its resident was erased."""
    if not token or len(token) > 200:
        return None
    # An erased resident's sessions are revoked by the erasure; the join also refuses one that a login
    # racing the erasure may have added.
    row = session.scalar(
        select(MiniappSession)
        .join(Resident, Resident.id == MiniappSession.resident_id)
        .where(MiniappSession.token_hash == hash_token(token), Resident.erased_at.is_(None))
    )
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return row


def logout(session: Session, token: str, *, now: datetime) -> bool:
    """Revoke the session of this token; True if one was live."""
    row = resolve(session, token, now=now)
    if row is None:
        return False
    row.revoked_at = now
    session.flush()
    return True


def staff_for_resident(session: Session, resident: Resident) -> Staff | None:
    """The active Staff record of the same person (matched by unionid or mini-program openid), if any."""
    clauses = []
    if resident.unionid:
        clauses.append(Staff.unionid == resident.unionid)
    if resident.miniapp_openid:
        clauses.append(Staff.miniapp_openid == resident.miniapp_openid)
    if not clauses:
        return None
    return session.scalar(select(Staff).where(or_(*clauses), Staff.active.is_(True)).order_by(Staff.id).limit(1))


def identity_for(session: Session, resident_id: int) -> Identity:
    """Roles of a resident, computed from the data on every request so revocations apply at once."""
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise LookupError(resident_id)
    roles = {"resident"}
    if resident.is_volunteer:
        roles.add("volunteer")
    staff = staff_for_resident(session, resident)
    if staff is not None:
        roles.add("staff")
        if staff.role in ("grid_leader", "community_secretary", "admin"):
            roles.add("grid_leader")
    partner_id: int | None = None
    for lookup in _partner_lookups or _default_partner_lookups():
        partner_id = lookup(session, resident.id)
        if partner_id is not None:
            roles.add("partner")
            break
    return Identity(
        resident_id=resident.id,
        roles=frozenset(roles),
        staff_id=staff.id if staff is not None else None,
        partner_id=partner_id,
    )
