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
    from services.appeals.routing import seed_routing

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


# ---------------------------------------------------------------- a real browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    "--window-size=1280,900", "--lang=zh-CN",
)  # fmt: skip


@pytest.fixture(scope="session")
def chrome(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One headless Debian chromium for the session, driven through Debian's chromedriver (no downloads)."""
    import os

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never reach the network
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def live_url(app: Flask) -> Any:
    """The app served on loopback by werkzeug in a thread; yields its base URL."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def browser(chrome: Any, live_url: str) -> Any:
    """The shared chromium with no cookies, at desktop width, pointed at this test's server."""
    chrome.delete_all_cookies()
    chrome.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chrome.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    chrome.base_url = live_url
    return chrome


def wait_for(driver: Any, condition: Callable[[Any], Any], timeout: float = 10.0) -> Any:
    """Wait until `condition(driver)` is truthy (polling the real page), and return its value.

    An element of the page being replaced by a navigation goes stale mid-check (Selenium's stale element, or
    chromium's "node does not belong to the document"): that poll counts as not yet."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def poll(d: Any) -> Any:
        try:
            return condition(d)
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return False
            raise

    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(poll)
