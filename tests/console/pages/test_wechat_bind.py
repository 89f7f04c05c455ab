"""绑定微信: a new staff member signed in by a one-time link binds their own WeChat by scanning a temporary QR scene
through the real webhook, and can then sign in by scanning the sign-in QR."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.audit import AuditEntry
from models.staff import Staff
from tests.console.pages.conftest import csrf_of, scan
from tests.console.pages.test_qr_signin import _start_qr

NEW_WECHAT = "oConsoleNewStaffWeChat0000001"


def _newcomer(session: Session, org: Any) -> Staff:
    member = Staff(name="新社工", role="community_staff", community_id=org.community.id)
    session.add(member)
    session.commit()
    org.staff["newcomer"] = member
    return member


def _binding_qr(browser: Any, sandbox: Any) -> tuple[str, str]:
    page = browser.get("/console/bind-wechat").get_data(as_text=True)
    assert "生成绑定二维码" in page
    resp = browser.post("/console/bind-wechat", data={"csrf_token": csrf_of(page)})
    assert resp.status_code == 303
    page = browser.get("/console/bind-wechat").get_data(as_text=True)
    assert 'aria-label="绑定微信二维码"' in page
    assert "等待扫码" in page
    [(ticket, body)] = [(t, b) for t, b in sandbox.qr_codes().items()
                        if b["action_info"]["scene"]["scene_str"].startswith("bindstaff:")]  # fmt: skip
    assert body["action_name"] == "QR_STR_SCENE"
    return body["action_info"]["scene"]["scene_str"], ticket


def test_a_new_staff_member_binds_their_wechat_and_then_signs_in_by_qr(
    app: Flask, session: Session, browser_for: Any, org: Any, sandbox: Any, wechat: Any, clock: Any
) -> None:
    member = _newcomer(session, org)
    browser = browser_for("newcomer")
    scene, ticket = _binding_qr(browser, sandbox)
    reply = scan(wechat, NEW_WECHAT, scene, ticket)
    assert reply is not None
    assert "已绑定红管家工作人员账号" in reply
    session.expire_all()
    assert session.get(Staff, member.id).openid == NEW_WECHAT
    assert "已绑定" in browser.get("/console/bind-wechat/status").get_data(as_text=True)
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "bind_wechat"))
    assert entry is not None
    assert NEW_WECHAT not in str(entry.detail)
    clock.advance(timedelta(seconds=1))  # a later push, not WeChat's redelivery of the same one
    again = scan(wechat, NEW_WECHAT, scene, ticket)  # the code is single use
    assert again is not None
    assert "绑定二维码已失效" in again
    sandbox.reset()
    qr_browser, login_scene, login_ticket = _start_qr(app, sandbox)
    assert "已登录红管家工作台" in (scan(wechat, NEW_WECHAT, login_scene, login_ticket) or "")
    assert qr_browser.get("/console/login/qr/status").headers.get("HX-Redirect")


def test_a_wechat_bound_to_another_staff_member_is_refused(
    session: Session, browser_for: Any, org: Any, sandbox: Any, wechat: Any
) -> None:
    member = _newcomer(session, org)
    scene, ticket = _binding_qr(browser_for("newcomer"), sandbox)
    taken = org.staff["g1_leader"].openid
    reply = scan(wechat, taken, scene, ticket)
    assert reply is not None
    assert "已绑定另一位工作人员" in reply
    session.expire_all()
    assert session.get(Staff, member.id).openid is None


def test_an_expired_binding_qr_binds_nothing(
    session: Session, browser_for: Any, org: Any, sandbox: Any, wechat: Any, clock: Any
) -> None:
    member = _newcomer(session, org)
    scene, ticket = _binding_qr(browser_for("newcomer"), sandbox)
    clock.advance(timedelta(minutes=6))
    reply = scan(wechat, NEW_WECHAT, f"qrscene_{scene}", ticket, event="subscribe")
    assert reply is not None
    assert "绑定二维码已失效" in reply
    session.expire_all()
    assert session.get(Staff, member.id).openid is None
