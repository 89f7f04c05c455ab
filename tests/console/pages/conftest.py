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
