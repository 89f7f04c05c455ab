"""`hongguan staff-login STAFF`: a one-time console sign-in link, by staff id or bound openid; it works once."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from cli import main


def _post_link(app: Flask, link: str) -> int:
    path = link.removeprefix("http://127.0.0.1:5000")
    browser = app.test_client()
    page = browser.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    return browser.post(path, data={"csrf_token": token.group(1)}).status_code


def test_staff_login_prints_a_single_use_link(app: Flask, org: Any) -> None:
    app.config["CONSOLE_COOKIE_SECURE"] = False
    result = app.test_cli_runner().invoke(main, ["staff-login", "o-staff-secretary"])
    assert result.exit_code == 0, result.output
    link = result.stdout.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:5000/console/login/link/[\w-]{40,}", link)
    assert "single use, valid 15 minutes" in result.stderr
    assert _post_link(app, link) == 302
    assert _post_link(app, link) == 403  # spent

    by_id = app.test_cli_runner().invoke(main, ["staff-login", str(org.staff["g1_leader"].id), "--ttl", "120"])
    assert by_id.exit_code == 0, by_id.output
    assert "valid 2 minutes" in by_id.stderr


def test_staff_login_refuses_an_unknown_member(app: Flask, org: Any) -> None:
    result = app.test_cli_runner().invoke(main, ["staff-login", "o-nobody"])
    assert result.exit_code != 0
    assert "no staff member" in result.output
    missing = app.test_cli_runner().invoke(main, ["staff-login", "99999"])
    assert missing.exit_code != 0
    assert "没有编号为 99999 的在职工作人员" in missing.output
