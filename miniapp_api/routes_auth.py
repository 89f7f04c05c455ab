"""Login (wx.login code → hongguan session), logout, who am I, and subscribe-message grants."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pydantic import BaseModel, Field

from infra import clock, privacy
from infra.http import ApiError
from infra.web import db_session
from miniapp_api.auth import BEARER, bearer_token, current_principal, login_required
from miniapp_api.blueprint import api_blueprint
from miniapp_api.schemas import AUTH_ERRORS, ErrorBody, Ok, responses
from models.resident import Resident
from services.notifications.notify import record_subscribe_grant
from services.organisation import auth as auth_service
from wechat.client import WeChatAPIError, WeChatUnavailable, miniapp_client

log = logging.getLogger(__name__)

bp = api_blueprint("miniapp_auth", __name__, "auth", "login with a wx.login code; the session token", public=True)

# code2Session errors (https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html)
_INVALID_CODE = {40029, 40163, 40226}  # invalid code, code already used, high-risk user blocked
_RATE_LIMITED = {45011}


class LoginBody(BaseModel):
    """The code from wx.login (single-use, valid for 5 minutes)."""

    code: str = Field(min_length=1, max_length=128)


class LoginResult(BaseModel):
    """hongguan's own session token (opaque; send as `Authorization: Bearer <token>`)."""

    token: str
    expires_at: datetime
    roles: list[str]


class Me(BaseModel):
    """The caller as the server sees them (no phone, no openid, no session_key)."""

    resident_id: int
    roles: list[str]
    staff_id: int | None
    partner_id: int | None
    is_volunteer: bool
    bound: bool = Field(description="true when the resident is bound to a grid (never after erasure)")


class SubscriptionBody(BaseModel):
    """A template the resident accepted in wx.requestSubscribeMessage (one grant = one later send)."""

    template_id: str = Field(min_length=1, max_length=128)


def session_ttl() -> timedelta:
    """How long a mini-program session lasts (setting MINIAPP_SESSION_TTL, seconds; default 7 days)."""
    return timedelta(seconds=int(current_app.config.get("MINIAPP_SESSION_TTL", 7 * 24 * 3600)))


@bp.post(
    "/auth/login",
    responses={200: LoginResult, 401: ErrorBody, 429: ErrorBody, 503: ErrorBody},
    summary="exchange a wx.login code for a session token",
)
def login(body: LoginBody) -> Any:
    """code2Session through the WeChat client; session_key stays server-side."""
    try:
        result = miniapp_client().code_to_session(body.code)
    except WeChatAPIError as e:
        errcode = e.errcode
        if errcode in _RATE_LIMITED:
            raise ApiError(429, "rate_limited", "登录过于频繁，请一分钟后再试") from None
        if errcode in _INVALID_CODE:
            raise ApiError(401, "invalid_code", "登录 code 无效或已使用，请重新调用 wx.login") from None
        log.warning("code2Session failed errcode=%s", errcode)
        raise ApiError(503, "wechat_unavailable", "微信登录暂时不可用，请稍后重试") from None
    except WeChatUnavailable:  # timeouts, connection errors, 5xx: the client already logged the call
        raise ApiError(503, "wechat_unavailable", "微信登录暂时不可用，请稍后重试") from None
    openid = result.get("openid")
    session_key = result.get("session_key")
    if not openid or not session_key:
        raise ApiError(503, "wechat_unavailable", "微信没有返回 openid，请重试")
    session = db_session()
    now = clock.now()
    token, row = auth_service.login(
        session,
        openid=openid,
        session_key=session_key,
        unionid=result.get("unionid"),
        now=now,
        ttl=session_ttl(),
    )
    identity = auth_service.identity_for(session, row.resident_id)
    session.commit()
    log.info("login ok for %s", privacy.pseudonym(openid))
    return LoginResult(token=token, expires_at=row.expires_at, roles=sorted(identity.roles)).model_dump(mode="json")


@bp.post("/auth/logout", security=BEARER, responses=responses(Ok, errors=AUTH_ERRORS), summary="end this session")
@login_required
def logout() -> Any:
    """Revoke the token used for this request."""
    session = db_session()
    auth_service.logout(session, bearer_token() or "", now=clock.now())
    session.commit()
    return Ok().model_dump()


@bp.get("/me", security=BEARER, responses=responses(Me, errors=AUTH_ERRORS), summary="who am I")
@login_required
def me() -> Any:
    """The caller's roles and links (never personal data)."""
    principal = current_principal()
    resident = db_session().get(Resident, principal.resident_id)
    assert resident is not None
    return Me(
        resident_id=principal.resident_id,
        roles=sorted(principal.roles),
        staff_id=principal.staff_id,
        partner_id=principal.partner_id,
        is_volunteer=resident.is_volunteer,
        bound=resident.grid_id is not None and resident.erased_at is None,  # erased rows keep grid for statistics
    ).model_dump()


@bp.post(
    "/subscriptions",
    security=BEARER,
    responses=responses(Ok, errors={**AUTH_ERRORS, 503: ErrorBody}),
    summary="record a grant",
)
@login_required
def subscribe(body: SubscriptionBody) -> Any:
    """Record one subscribe-message grant after wx.requestSubscribeMessage returned "accept" for the template."""
    session = db_session()
    resident = session.get(Resident, current_principal().resident_id)
    if resident is None or not resident.miniapp_openid:
        raise ApiError(409, "no_miniapp_openid", "请先在小程序中登录")
    record_subscribe_grant(session, resident.miniapp_openid, body.template_id, count=1)
    session.commit()
    return Ok().model_dump()
