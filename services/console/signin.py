"""One-time ways into the console: a sign-in link printed by `hongguan staff-login`, or a WeChat QR scene.

QR sign-in (https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html):
the waiting browser holds a random secret; the page asks WeChat for a temporary `QR_STR_SCENE` named
`login:<nonce>`; when a staff member's bound WeChat scans it, the webhook's SCAN (`EventKey=login:<nonce>`) or
subscribe (`EventKey=qrscene_login:<nonce>`) event approves the grant, and the browser's next poll claims it
once. Every grant is single use and short-lived, so a photographed QR or a copied link expires unused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra import clock
from models.console_session import ConsoleSignIn
from models.staff import Staff
from services.console.sessions import hash_secret
from services.errors import NotFound

LINK_TTL = timedelta(minutes=15)
QR_TTL = timedelta(minutes=5)
SCENE_PREFIX = "login:"


def issue_link(session: Session, staff_id: int, *, ttl: timedelta = LINK_TTL) -> str:
    """A one-time sign-in token for an active staff member (put in a URL; only its hash is stored)."""
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active:
        raise NotFound(f"没有编号为 {staff_id} 的在职工作人员")
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        ConsoleSignIn(kind="link", secret_hash=hash_secret(token), staff_id=staff.id, created_at=now,
                      expires_at=now + ttl)
    )  # fmt: skip
    session.flush()
    return token


def _claim(session: Session, row: ConsoleSignIn) -> Staff | None:
    """Mark a grant used with a conditional UPDATE, so two browsers racing on it get one session."""
    now = clock.now()
    result = session.execute(
        update(ConsoleSignIn)
        .where(ConsoleSignIn.id == row.id, ConsoleSignIn.used_at.is_(None), ConsoleSignIn.expires_at > now)
        .values(used_at=now)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    staff = session.get(Staff, row.staff_id) if row.staff_id is not None else None
    return staff if staff is not None and staff.active else None


def redeem_link(session: Session, token: str) -> Staff | None:
    """The staff member a live, unused sign-in link belongs to (the link is spent); None otherwise."""
    if not token or len(token) > 100:
        return None
    row = session.scalar(
        select(ConsoleSignIn).where(ConsoleSignIn.secret_hash == hash_secret(token), ConsoleSignIn.kind == "link")
    )
    return None if row is None else _claim(session, row)


def new_scene() -> str:
    """A fresh temporary scene string for a sign-in QR (`login:` + 32 hex characters, within WeChat's 64)."""
    return SCENE_PREFIX + secrets.token_hex(16)


def open_qr(session: Session, *, scene: str, ticket: str, url: str, ttl: timedelta = QR_TTL) -> str:
    """Record a QR scene WeChat issued for a waiting browser; returns the browser's secret (its cookie)."""
    secret = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        ConsoleSignIn(kind="qr", secret_hash=hash_secret(secret), scene=scene, ticket=ticket[:200], qr_url=url[:200],
                      created_at=now, expires_at=now + ttl)
    )  # fmt: skip
    session.flush()
    return secret


def waiting_qr(session: Session, secret: str) -> ConsoleSignIn | None:
    """The unexpired, unused QR grant of a waiting browser's secret."""
    row = session.scalar(
        select(ConsoleSignIn).where(ConsoleSignIn.secret_hash == hash_secret(secret or ""), ConsoleSignIn.kind == "qr")
    )
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        return None
    return row


def is_login_scene(event_key: str) -> bool:
    """Whether a SCAN/subscribe EventKey names a console sign-in scene (with or without `qrscene_`)."""
    return event_key.removeprefix("qrscene_").startswith(SCENE_PREFIX)


@dataclass(frozen=True)
class ScanOutcome:
    """What a scan of a sign-in QR did, and the reply the scanner sees in WeChat."""

    approved: bool
    reply: str


def approve_scan(session: Session, *, event_key: str, openid: str, ticket: str | None) -> ScanOutcome:
    """A SCAN/subscribe event for a sign-in scene: approve the waiting browser if the openid is bound staff."""
    scene = event_key.removeprefix("qrscene_")
    row = session.scalar(
        select(ConsoleSignIn).where(ConsoleSignIn.scene == scene, ConsoleSignIn.kind == "qr").with_for_update()
    )
    now = clock.now()
    if row is None or row.expires_at <= now or row.used_at is not None or row.approved_at is not None:
        return ScanOutcome(False, "这个登录二维码已失效，请在工作台页面刷新二维码后重新扫码。")
    if ticket and row.ticket and ticket != row.ticket:
        return ScanOutcome(False, "这个登录二维码无法识别，请刷新后重试。")
    staff = session.scalar(select(Staff).where(Staff.openid == openid, Staff.active.is_(True)))
    if staff is None:
        return ScanOutcome(False, "您的微信尚未绑定红管家工作人员账号，无法登录工作台。请联系社区管理员。")
    row.staff_id, row.approved_at = staff.id, now
    session.flush()
    return ScanOutcome(True, f"{staff.name}，您已登录红管家工作台。如非本人操作，请在“我的登录”中退出该登录。")


def poll_qr(session: Session, secret: str) -> tuple[str, Staff | None]:
    """The waiting browser's poll: ("pending" | "expired" | "signed_in", staff when signed in; spent then)."""
    row = waiting_qr(session, secret)
    if row is None:
        return "expired", None
    if row.approved_at is None:
        return "pending", None
    staff = _claim(session, row)
    return ("signed_in", staff) if staff is not None else ("expired", None)
