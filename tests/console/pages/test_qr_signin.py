"""QR sign-in: the page gets a temporary scene from WeChat (the sandbox), a bound staff member's scan through the
real webhook approves that browser, and its poll signs it in once."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from tests.console.pages.conftest import csrf_of, scan


def _start_qr(app: Flask, sandbox: Any) -> tuple[Any, str, str]:
    browser = app.test_client()
    page = browser.get("/console/login")
    resp = browser.post("/console/login/qr", data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert resp.status_code == 302
    qr_page = browser.get("/console/login/qr").get_data(as_text=True)
    assert "<svg" in qr_page
    assert "等待扫码" in qr_page
    [(ticket, body)] = sandbox.qr_codes().items()
    assert body["action_name"] == "QR_STR_SCENE"
    assert 0 < body["expire_seconds"] <= 2592000
    scene = body["action_info"]["scene"]["scene_str"]
    assert re.fullmatch(r"login:[0-9a-f]{32}", scene)
    return browser, scene, ticket


def test_a_bound_staff_members_scan_signs_the_waiting_browser_in_once(
    app: Flask, org: Any, sandbox: Any, wechat: Any
) -> None:
    browser, scene, ticket = _start_qr(app, sandbox)
    assert "等待扫码" in browser.get("/console/login/qr/status").get_data(as_text=True)
    assert browser.get("/console/").status_code == 302

    reply = scan(wechat, org.staff["g1_leader"].openid, scene, ticket)
    assert reply is not None
    assert "已登录红管家工作台" in reply

    poll = browser.get("/console/login/qr/status?next=/console/kpi")
    assert poll.status_code == 200
    assert poll.headers["HX-Redirect"] == "/console/kpi"
    assert "李网格长" in browser.get("/console/").get_data(as_text=True)
    # The grant is spent: a second poll (or a copied cookie) starts no second session.
    assert "已过期" in browser.get("/console/login/qr/status").get_data(as_text=True)


def test_a_follow_through_the_qr_counts_as_the_scan(app: Flask, org: Any, sandbox: Any, wechat: Any) -> None:
    browser, scene, ticket = _start_qr(app, sandbox)
    reply = scan(wechat, org.staff["secretary"].openid, f"qrscene_{scene}", ticket, event="subscribe")
    assert reply is not None
    assert "已登录" in reply
    assert "HX-Redirect" in browser.get("/console/login/qr/status").headers


def test_an_unbound_wechat_or_a_wrong_ticket_signs_nobody_in(app: Flask, org: Any, sandbox: Any, wechat: Any) -> None:
    browser, scene, ticket = _start_qr(app, sandbox)
    assert "尚未绑定" in (scan(wechat, "oSomeResidentNotStaff00000001", scene, ticket) or "")
    assert "无法识别" in (scan(wechat, org.staff["g1_leader"].openid, scene, "another-ticket") or "")
    poll = browser.get("/console/login/qr/status")
    assert "HX-Redirect" not in poll.headers
    assert "等待扫码" in poll.get_data(as_text=True)


def test_an_expired_qr_cannot_be_used(app: Flask, org: Any, sandbox: Any, wechat: Any, clock: Any) -> None:
    from datetime import timedelta

    browser, scene, ticket = _start_qr(app, sandbox)
    clock.advance(timedelta(minutes=6))
    assert "已失效" in (scan(wechat, org.staff["g1_leader"].openid, scene, ticket) or "")
    assert "已过期" in browser.get("/console/login/qr/status").get_data(as_text=True)
