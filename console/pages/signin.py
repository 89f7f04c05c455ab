"""Sign-in pages: WeChat QR scene (polled with htmx), the one-time link of `hongguan staff-login`, 我的登录, 退出."""

from __future__ import annotations

import io
import logging
from typing import Any

import qrcode
import qrcode.image.svg
import requests
from flask import Response, g, make_response, redirect, request, url_for
from markupsafe import Markup, escape

from console.pages.web import (
    COOKIE_PATH,
    QR_COOKIE,
    SESSION_COOKIE,
    PageError,
    bp,
    current_staff,
    error_page,
    page,
    record,
    safe_next,
    set_cookie,
    signed_in,
    staff,
    start_session,
    within_sign_in_rate,
)
from infra.web import db_session
from services.console import sessions, signin
from wechat.client import WeChatAPIError, WeChatUnavailable, oa_client

log = logging.getLogger(__name__)


def qr_svg(content: str, label: str = "微信扫码登录二维码") -> Markup:
    """The QR code of `content` as inline SVG (drawn here: no image host, works offline and under the CSP)."""
    image = qrcode.make(content, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg") :]  # drop the XML declaration: the SVG sits inside HTML
    return Markup(svg.replace("<svg", f'<svg role="img" aria-label="{escape(label)}"', 1))  # noqa: S704 - our own SVG


@bp.get("/login")
def sign_in() -> Any:
    """The sign-in page: get a QR code to scan with WeChat."""
    if current_staff() is not None:
        db_session().commit()
        return redirect(safe_next(request.args.get("next")))
    db_session().rollback()
    return page("console/sign_in.html", next=request.args.get("next", ""))


@bp.post("/login/qr")
def start_qr() -> Any:
    """Ask WeChat for a temporary sign-in scene and show its QR code to this browser."""
    if not within_sign_in_rate():
        return error_page(429)
    scene = signin.new_scene()
    ttl = int(signin.QR_TTL.total_seconds())
    try:
        issued = oa_client().create_temporary_qr(scene, ttl)
    except (WeChatAPIError, WeChatUnavailable, requests.RequestException) as e:
        log.warning("sign-in QR not issued: %s", e)
        return error_page(
            503, "暂时无法从微信获取登录二维码，请稍后重试，或请管理员用 hongguan staff-login 生成登录链接。"
        )
    session = db_session()
    secret = signin.open_qr(session, scene=scene, ticket=str(issued["ticket"]), url=str(issued["url"]))
    session.commit()
    response = redirect(url_for("console_pages.qr_page", next=request.form.get("next", "")))
    set_cookie(response, QR_COOKIE, secret, max_age=ttl)
    return response


@bp.get("/login/qr")
def qr_page() -> Any:
    """The QR code this browser waits on; the page polls until a bound staff member scans it."""
    session = db_session()
    row = signin.waiting_qr(session, request.cookies.get(QR_COOKIE, ""))
    svg = qr_svg(row.qr_url) if row is not None and row.qr_url else None
    expires = row.expires_at if row is not None else None
    session.rollback()
    return page("console/sign_in_qr.html", svg=svg, expires=expires, next=request.args.get("next", ""))


@bp.get("/login/qr/status")
def qr_status() -> Any:
    """htmx poll: still waiting, expired, or signed in (then the browser is sent on with HX-Redirect)."""
    session = db_session()
    state, member = signin.poll_qr(session, request.cookies.get(QR_COOKIE, ""))
    if state == "signed_in" and member is not None:
        done = start_session(member, "qr", request.args.get("next", ""))
        response = make_response("", 200)
        response.headers["HX-Redirect"] = done.headers["Location"]
        for cookie in done.headers.getlist("Set-Cookie"):
            response.headers.add("Set-Cookie", cookie)
        return response
    session.rollback()
    return page("console/_qr_status.html", state=state, next=request.args.get("next", ""))


@bp.get("/login/link/<token>")
def link_page(token: str) -> Any:
    """A sign-in link: a button confirms (a link preview or prefetch must not spend it)."""
    db_session().rollback()
    return page("console/sign_in_link.html", token=token)


@bp.post("/login/link/<token>")
def use_link(token: str) -> Any:
    """Spend a one-time sign-in link and sign this browser in."""
    if not within_sign_in_rate():
        return error_page(429)
    member = signin.redeem_link(db_session(), token)
    if member is None:
        return error_page(403, "这个登录链接无效、已使用或已过期。请让管理员重新运行 hongguan staff-login 生成新链接。")
    return start_session(member, "link", request.form.get("next", ""))


@bp.post("/logout")
@signed_in
def sign_out() -> Response:
    """End this browser's session."""
    row = g.console_session
    sessions.revoke(db_session(), staff().id, row.id)
    record("sign_out", "console_session", row.id)
    db_session().commit()
    response = redirect(url_for("console_pages.sign_in"))
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


@bp.get("/sessions")
@signed_in
def my_sessions() -> Any:
    """我的登录: this staff member's live sessions, each revocable."""
    rows = sessions.live_sessions(db_session(), staff().id)
    body = page("console/sessions.html", rows=rows, current_id=g.console_session.id, expires_at=sessions.expires_at)
    db_session().commit()
    return body


@bp.post("/sessions/<int:session_id>/revoke")
@signed_in
def revoke_session(session_id: int) -> Response:
    """Revoke one of my sessions (another browser, or a lost phone)."""
    if not sessions.revoke(db_session(), staff().id, session_id):
        raise PageError(404, "没有这个登录，或它已经结束。")
    record("revoke_session", "console_session", session_id)
    db_session().commit()
    return redirect(url_for("console_pages.my_sessions"))
