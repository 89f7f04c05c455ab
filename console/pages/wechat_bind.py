"""绑定微信: a staff member signed in by a one-time link binds their own WeChat by scanning a temporary QR scene
(`services.console.wechat_bind`); the page polls with htmx until the webhook has recorded the scan."""

from __future__ import annotations

import logging
from typing import Any

import requests
from flask import redirect, url_for

from console.pages.signin import qr_svg
from console.pages.web import bp, error_page, open_to_units, page, record, signed_in, staff
from infra.web import db_session
from services.console import wechat_bind
from services.console.signin import QR_TTL
from wechat.client import WeChatAPIError, WeChatUnavailable, oa_client

log = logging.getLogger(__name__)


@bp.get("/bind-wechat")
@signed_in
@open_to_units
def bind_wechat_page() -> Any:
    """Whether my WeChat is bound, and the QR code to scan while a binding waits."""
    session, member = db_session(), staff()
    state, row = wechat_bind.state(session, member.id)
    svg = qr_svg(row.qr_url, "绑定微信二维码") if state == "pending" and row is not None and row.qr_url else None
    body = page("console/bind_wechat.html", bound=bool(member.openid), svg=svg, state=state,
                expires=row.expires_at if row is not None else None)  # fmt: skip
    session.commit()
    return body


@bp.post("/bind-wechat")
@signed_in
@open_to_units
def bind_wechat_start() -> Any:
    """Ask WeChat for a temporary binding scene and show its QR code."""
    session, member = db_session(), staff()
    scene = wechat_bind.new_scene()
    try:
        issued = oa_client().create_temporary_qr(scene, int(QR_TTL.total_seconds()))
    except (WeChatAPIError, WeChatUnavailable, requests.RequestException) as e:
        log.warning("binding QR not issued: %s", e)
        return error_page(503, "暂时无法从微信获取绑定二维码，请稍后重试。")
    wechat_bind.open_bind(session, member.id, scene=scene, ticket=str(issued["ticket"]), url=str(issued["url"]))
    record("start_wechat_binding", "staff", member.id)
    session.commit()
    return redirect(url_for("console_pages.bind_wechat_page"), code=303)


@bp.get("/bind-wechat/status")
@signed_in
@open_to_units
def bind_wechat_status() -> Any:
    """htmx poll: still waiting, expired, or bound."""
    session = db_session()
    state, _ = wechat_bind.state(session, staff().id)
    body = page("console/_bind_status.html", state=state)
    session.rollback()
    return body
