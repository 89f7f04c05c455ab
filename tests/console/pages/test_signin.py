"""Console sign-in: one-time links, server-side sessions (idle/absolute expiry, revocation), CSRF, headers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.audit import AuditEntry
from models.console_session import ConsoleSession
from services.console.signin import issue_link
from tests.console.pages.conftest import csrf_of


def test_a_sign_in_link_works_once_and_starts_a_server_side_session(app: Flask, session: Session, org: Any) -> None:
    token = issue_link(session, org.staff["g1_leader"].id)
    session.commit()
    browser = app.test_client()
    page = browser.get(f"/console/login/link/{token}")
    done = browser.post(f"/console/login/link/{token}", data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/console/")
    inbox = browser.get("/console/")
    assert inbox.status_code == 200
    assert "李网格长" in inbox.get_data(as_text=True)
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.staff_id == org.staff["g1_leader"].id))
    assert row is not None
    assert row.method == "link"
    assert row.revoked_at is None
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "sign_in"))
    assert entry is not None
    assert entry.staff_id == org.staff["g1_leader"].id

    again = app.test_client()
    page = again.get(f"/console/login/link/{token}")
    refused = again.post(f"/console/login/link/{token}", data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert refused.status_code == 403
    assert "已使用或已过期" in refused.get_data(as_text=True)


def test_pages_need_a_session_and_send_strict_headers(client: Any) -> None:
    resp = client.get("/console/")
    assert resp.status_code == 302
    assert "/console/login" in resp.headers["Location"]
    page = client.get("/console/login")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    html = page.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "<script>" not in html
    assert "style=" not in html


def test_cookies_are_secure_httponly_samesite_by_default(
    app_config: dict[str, Any], session: Session, org: Any
) -> None:
    from wsgi import create_app

    strict = create_app({**app_config, "CONSOLE_COOKIE_SECURE": True})
    token = issue_link(session, org.staff["secretary"].id)
    session.commit()
    browser = strict.test_client()
    page = browser.get(f"/console/login/link/{token}", base_url="https://localhost")
    done = browser.post(
        f"/console/login/link/{token}", data={"csrf_token": csrf_of(page.get_data(as_text=True))},
        base_url="https://localhost", headers={"Referer": f"https://localhost/console/login/link/{token}"},
    )  # fmt: skip
    assert done.status_code == 302, done.get_data(as_text=True)
    cookies = [c for c in done.headers.getlist("Set-Cookie") if c.startswith("hg_console=")]
    assert len(cookies) == 1
    flags = cookies[0].lower()
    assert "secure" in flags
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/console" in flags


def test_a_form_without_its_csrf_token_is_refused_in_chinese(browser_for: Any) -> None:
    browser = browser_for("g1_leader")
    resp = browser.post("/console/logout", data={})
    assert resp.status_code == 400
    assert "CSRF 校验失败" in resp.get_data(as_text=True)
    assert browser.get("/console/").status_code == 200  # still signed in: nothing happened


def test_sessions_expire_when_idle_and_at_their_absolute_limit(browser_for: Any, clock: Any) -> None:
    browser = browser_for("g1_leader")
    clock.advance(timedelta(minutes=90))
    assert browser.get("/console/").status_code == 200  # active: the idle limit moves on
    clock.advance(timedelta(minutes=90))
    assert browser.get("/console/").status_code == 200
    clock.advance(timedelta(hours=2, minutes=1))
    assert browser.get("/console/").status_code == 302  # idle for more than two hours

    other = browser_for("g1_leader")
    for _ in range(7):
        clock.advance(timedelta(minutes=110))
        other.get("/console/")
    assert other.get("/console/").status_code == 302  # past twelve hours, however active


def test_my_sessions_lists_and_revokes_another_browser(browser_for: Any, session: Session, org: Any) -> None:
    phone = browser_for("g1_leader")
    desk = browser_for("g1_leader")
    page = desk.get("/console/sessions")
    html = page.get_data(as_text=True)
    assert html.count(">退出该登录</button>") == 2
    assert "（本机）" in html
    rows = session.scalars(
        select(ConsoleSession).where(ConsoleSession.staff_id == org.staff["g1_leader"].id).order_by(ConsoleSession.id)
    ).all()
    phone_row = rows[0]
    session.commit()
    resp = desk.post(f"/console/sessions/{phone_row.id}/revoke", data={"csrf_token": csrf_of(html)})
    assert resp.status_code == 302
    assert phone.get("/console/").status_code == 302  # the phone is signed out
    assert desk.get("/console/").status_code == 200
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "revoke_session")) is not None


def test_another_staff_members_session_cannot_be_revoked(browser_for: Any, session: Session, org: Any) -> None:
    browser_for("g3_leader")
    theirs = session.scalar(select(ConsoleSession).where(ConsoleSession.staff_id == org.staff["g3_leader"].id))
    session.commit()
    mine = browser_for("g1_leader")
    html = mine.get("/console/sessions").get_data(as_text=True)
    resp = mine.post(f"/console/sessions/{theirs.id}/revoke", data={"csrf_token": csrf_of(html)})
    assert resp.status_code == 404
    session.refresh(theirs)
    assert theirs.revoked_at is None


def test_sign_in_attempts_are_rate_limited(app: Flask, session: Session, org: Any) -> None:
    browser = app.test_client()
    page = browser.get("/console/login/link/whatever")
    token = csrf_of(page.get_data(as_text=True))
    statuses = [
        browser.post(f"/console/login/link/wrong{i}", data={"csrf_token": token}).status_code for i in range(12)
    ]
    assert statuses[:10] == [403] * 10
    assert statuses[10:] == [429, 429]
    assert "尝试次数过多" in browser.post("/console/login/link/x", data={"csrf_token": token}).get_data(as_text=True)


def test_unknown_console_pages_are_chinese_404s_and_the_api_stays_json(client: Any) -> None:
    page = client.get("/console/no-such-page")
    assert page.status_code == 404
    assert "没有找到" in page.get_data(as_text=True)
    api = client.get("/console/api/no-such-endpoint")
    assert api.status_code == 404
    assert api.get_json()["code"] == "not_found"
