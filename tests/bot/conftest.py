"""Webhook test fixtures: a fake WeChat that signs/encrypts pushes and posts them to the test client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bot import menu
from infra import clock
from wechat.chat import FakeWeChat
from wechat.sandbox import SandboxServer

OPENID = "oResidentAlice0000000000001"


@dataclass
class WeChatDriver:
    """Sends pushes as WeChat would and reads the replies (through the real /wechat endpoint)."""

    client: FlaskClient
    fake: FakeWeChat
    run_jobs: Callable[..., int]
    sandbox: SandboxServer

    def post(self, fields: dict[str, Any] | str, **kwargs: Any) -> TestResponse:
        """POST one push; kwargs go to FakeWeChat.push (timestamp, nonce)."""
        params, body = self.fake.push(fields, **kwargs)
        return self.client.post(f"/wechat?{urlencode(params)}", data=body, content_type="text/xml")

    def say(self, line: str) -> str | None:
        """Send a chat line (text or /command) and return the passive reply's Content (None for success).

        The frozen clock moves one second first: two identical events in the same second are, by WeChat's own
        dedupe rule (FromUserName + CreateTime + Event), one event delivered twice.
        """
        clock.advance(timedelta(seconds=1))
        resp = self.post(self.fake.command(line))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        reply = self.fake.read_reply(resp.get_data(as_text=True))
        return None if reply is None else reply.get("Content")

    def answers(self) -> list[str]:
        """Every customer-service text the sandbox received for this user, oldest first."""
        sent = self.sandbox.sent(self.fake.openid, "custom")
        return [s["body"]["text"]["content"] for s in sent if s["body"].get("msgtype") == "text"]

    def tell(self, line: str) -> str:
        """Send free text the worker handles: the passive reply must be the acknowledgement; then run the
        queued jobs and return intake's answer, the last customer-service message the resident got (an
        appeal dispatched at once is also announced by the workflow's own notice, sent just before it)."""
        before = len(self.answers())
        assert self.say(line) == menu.ACK_QUEUED
        self.run_jobs()
        new = self.answers()[before:]
        assert 1 <= len(new) <= 2, new
        return new[-1]

    def as_user(self, openid: str, mode: str | None = None) -> WeChatDriver:
        """The same driver for another user (and optionally another mode)."""
        f = self.fake
        other = FakeWeChat(f.token, f.aes_key, f.appid, openid, account_id=f.account_id, mode=mode or f.mode)
        return WeChatDriver(self.client, other, self.run_jobs, self.sandbox)


@pytest.fixture
def wx(app, client, clock, run_jobs, sandbox) -> WeChatDriver:
    """A WeChat user in safe (AES) mode talking to the app; the clock is frozen."""
    cfg = app.config
    fake = FakeWeChat(
        cfg["WECHAT_TOKEN"],
        cfg["WECHAT_AES_KEY"],
        cfg["WECHAT_APPID"],
        OPENID,
        account_id=cfg["WECHAT_ACCOUNT_ID"],
    )
    return WeChatDriver(client, fake, run_jobs, sandbox)
