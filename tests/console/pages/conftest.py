"""Fixtures for the console pages: plain-HTTP cookies (the test client speaks HTTP), signed-in browsers."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from services.console.signin import issue_link

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The test client talks plain HTTP, as the embedded dev server does: cookies without Secure."""
    return {**app_config, "CONSOLE_COOKIE_SECURE": False}


@pytest.fixture
def browser_for(app: Flask, session: Session, org: Any) -> Callable[[str], FlaskClient]:
    """A fresh test client signed in (through a one-time link) as the demo staff member `key`."""

    def sign_in(key: str) -> FlaskClient:
        token = issue_link(session, org.staff[key].id)
        session.commit()
        browser = app.test_client()
        page = browser.get(f"/console/login/link/{token}")
        assert page.status_code == 200
        done = browser.post(f"/console/login/link/{token}", data={"csrf_token": csrf_of(page.get_data(as_text=True))})
        assert done.status_code == 302, done.get_data(as_text=True)
        return browser

    return sign_in


@pytest.fixture
def routed(session: Session, org: Any, make_appeal: Callable[..., Any]) -> None:
    """Routing rules, the holiday calendar and SLA policies: what intake needs to dispatch at once."""
    from services.routing import seed_routing

    seed_routing(session)
    session.commit()


@pytest.fixture
def wechat(app: Flask, client: FlaskClient, clock: Any, run_jobs: Callable[..., int], sandbox: Any) -> Any:
    """A WeChat user talking to the real webhook (safe mode); `.as_user(openid)` for another person."""
    from tests.bot.conftest import WeChatDriver
    from wechat.chat import FakeWeChat

    cfg = app.config
    fake = FakeWeChat(cfg["WECHAT_TOKEN"], cfg["WECHAT_AES_KEY"], cfg["WECHAT_APPID"], "oConsoleResident000000000001",
                      account_id=cfg["WECHAT_ACCOUNT_ID"])  # fmt: skip
    return WeChatDriver(client, fake, run_jobs, sandbox)


def scan(wechat: Any, openid: str, event_key: str, ticket: str, event: str = "SCAN") -> str | None:
    """Push a SCAN (or subscribe) event of `openid` for a QR and return the passive reply's text."""
    driver = wechat.as_user(openid)
    resp = driver.post(driver.fake.fields("event", Event=event, EventKey=event_key, Ticket=ticket))
    assert resp.status_code == 200
    reply = driver.fake.read_reply(resp.get_data(as_text=True))
    return None if reply is None else reply.get("Content")
