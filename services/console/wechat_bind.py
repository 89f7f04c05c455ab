"""Binding a staff member's WeChat (their official-account openid) from the console, after signing in by link.

https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html: the
signed-in staff member asks for a temporary `QR_STR_SCENE` named `bindstaff:<nonce>`; the WeChat that scans it
sends SCAN (`EventKey=bindstaff:<nonce>`) or, following at the same time, subscribe (`qrscene_bindstaff:<nonce>`),
and the webhook records that openid on the staff member. From then on that WeChat signs in by scanning the
sign-in QR and receives staff notifications. A grant is single use and expires with its QR code.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import clock
from models.console_session import ConsoleSignIn
from models.staff import Staff
from services.console import audit
from services.console.sessions import hash_secret
from services.console.signin import QR_TTL, ScanOutcome

SCENE_PREFIX = "bindstaff:"
KIND = "bind"


def new_scene() -> str:
    """A fresh temporary scene string for a binding QR (`bindstaff:` + 32 hex characters, within WeChat's 64)."""
    return SCENE_PREFIX + secrets.token_hex(16)


def is_bind_scene(event_key: str) -> bool:
    """Whether a SCAN/subscribe EventKey names a staff WeChat binding scene (with or without `qrscene_`)."""
    return event_key.removeprefix("qrscene_").startswith(SCENE_PREFIX)


def open_bind(
    session: Session, staff_id: int, *, scene: str, ticket: str, url: str, ttl: timedelta = QR_TTL
) -> ConsoleSignIn:
    """Record the binding QR WeChat issued for this staff member's browser."""
    now = clock.now()
    row = ConsoleSignIn(kind=KIND, secret_hash=hash_secret(secrets.token_urlsafe(32)), scene=scene,
                        ticket=ticket[:200], qr_url=url[:200], staff_id=staff_id, created_at=now,
                        expires_at=now + ttl)  # fmt: skip
    session.add(row)
    session.flush()
    return row


def state(session: Session, staff_id: int) -> tuple[str, ConsoleSignIn | None]:
    """The staff member's newest binding QR: ("none" | "pending" | "expired" | "bound", the row)."""
    row = session.scalar(
        select(ConsoleSignIn)
        .where(ConsoleSignIn.kind == KIND, ConsoleSignIn.staff_id == staff_id)
        .order_by(ConsoleSignIn.id.desc())
    )
    if row is None:
        return "none", None
    if row.used_at is not None:
        return "bound", row
    return ("expired" if row.expires_at <= clock.now() else "pending"), row


def bind_scan(session: Session, *, event_key: str, openid: str, ticket: str | None) -> ScanOutcome:
    """A SCAN/subscribe event for a binding scene: record the scanner's openid on the waiting staff member."""
    scene = event_key.removeprefix("qrscene_")
    row = session.scalar(
        select(ConsoleSignIn).where(ConsoleSignIn.scene == scene, ConsoleSignIn.kind == KIND).with_for_update()
    )
    now = clock.now()
    if row is None or row.used_at is not None or row.expires_at <= now:
        return ScanOutcome(False, "这个绑定二维码已失效，请在工作台“绑定微信”页面重新生成后再扫码。")
    if ticket and row.ticket and ticket != row.ticket:
        return ScanOutcome(False, "这个绑定二维码无法识别，请刷新后重试。")
    staff = session.get(Staff, row.staff_id) if row.staff_id is not None else None
    if staff is None or not staff.active:
        return ScanOutcome(False, "这个工作人员账号已停用，无法绑定微信。")
    holder = session.scalar(select(Staff).where(Staff.openid == openid))
    if holder is not None and holder.id != staff.id:
        return ScanOutcome(False, "您的微信已绑定另一位工作人员，一个微信只能绑定一个工作人员账号。请联系社区管理员。")
    staff.openid = openid
    row.approved_at = row.used_at = now
    audit.record(session, staff_id=staff.id, action="bind_wechat", object_type="staff", object_id=staff.id)
    session.flush()
    return ScanOutcome(True, f"{staff.name}，您的微信已绑定红管家工作人员账号，以后可扫码登录工作台并接收待办提醒。")
