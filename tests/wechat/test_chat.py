"""The chat simulator, run non-interactively against the app served over real HTTP and the sandbox."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from bot import menu
from models import Appeal
from wechat.chat import ChatError, FakeWeChat, run_chat

OPENID = "oChatUser000000000000000001"


@pytest.fixture
def server(app, org) -> Iterator[str]:
    """The app on a loopback port, as `hongguan run` would serve it."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def _send_custom(sandbox, openid: str, text: str) -> None:
    """What the worker does for an answer sent later: a customer-service message through WeChat's API."""
    token = requests.get(
        f"{sandbox.url}/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": sandbox.appid, "secret": sandbox.secret},
        timeout=5,
    ).json()["access_token"]
    body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
    resp = requests.post(
        f"{sandbox.url}/cgi-bin/message/custom/send", params={"access_token": token}, json=body, timeout=5
    )
    assert resp.json()["errcode"] == 0


@pytest.mark.parametrize("mode", ["aes", "compat", "plain"])
def test_chat_session_prints_replies_and_customer_service_messages(app, session, server, sandbox, run_jobs, mode):
    def lines() -> Iterator[str]:
        yield "/subscribe b-e-lz-1\n"
        yield "小区北门的路灯坏了\n"
        run_jobs()  # the worker files the appeal and sends its number as a customer-service message
        _send_custom(sandbox, OPENID, "网格员已到现场查看")  # arrives between two typed lines
        yield "/click MY_APPEALS\n"
        yield "/location 31.3025 120.7125 星湖街\n"
        yield "/nonsense\n"
        yield "/quit\n"
        yield "never sent\n"

    out = io.StringIO()
    cfg = app.config
    sent = run_chat(
        server, sandbox.url, cfg["WECHAT_TOKEN"], cfg["WECHAT_AES_KEY"], cfg["WECHAT_APPID"], OPENID, mode,
        account_id=cfg["WECHAT_ACCOUNT_ID"], stdin=lines(), stdout=out, poll_seconds=0,
    )  # fmt: skip
    text = out.getvalue()
    assert sent == 4
    number = session.scalar(select(Appeal.number))
    session.commit()
    assert f"({mode} mode)" in text
    assert "已为您绑定：金鸡湖社区 第一网格 绿洲花园1幢" in text
    assert f"< {menu.ACK_QUEUED}" in text  # the passive reply to the text: an acknowledgement
    # The worker's answer, printed as it reached the sandbox; then the MY_APPEALS listing and the location.
    assert re.search(rf"\[客服消息\] [^\n]*编号 {number}", text), text
    assert f"{number}｜" in text
    assert f"已将位置补充到诉求 {number}" in text
    assert "[客服消息] 网格员已到现场查看" in text
    assert "! unknown command /nonsense" in text
    assert "never sent" not in text


def test_fake_wechat_commands_build_wechat_shaped_pushes():
    fake = FakeWeChat("t", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxapp", OPENID)
    text = fake.command("你好")
    assert (text["MsgType"], text["Content"], text["FromUserName"]) == ("text", "你好", OPENID)
    assert 0 < text["MsgId"] < 2**63
    assert fake.command("你好")["MsgId"] != text["MsgId"]  # a new MsgId for every message
    assert fake.command("/voice")["Recognition"] == ""
    loc = fake.command("/location 31.3 120.7 星湖街 8号")
    assert (loc["Location_X"], loc["Location_Y"], loc["Label"]) == (31.3, 120.7, "星湖街 8号")
    assert fake.command("/subscribe b-1")["EventKey"] == "qrscene_b-1"
    assert fake.command("/scan b-1")["EventKey"] == "b-1"
    assert "MsgId" not in fake.command("/click HELP")
    for bad in ("/location north", "/scan", "/event", "/teleport"):
        with pytest.raises(ChatError):
            fake.command(bad)
    params, body = fake.push(text)
    assert {"signature", "timestamp", "nonce", "encrypt_type", "msg_signature"} <= set(params)
    assert b"<Encrypt>" in body
    assert "你好" not in body.decode()  # safe mode: only ciphertext on the wire


def test_chat_reports_a_server_that_is_down_in_one_line_and_keeps_going(app, server, sandbox):
    from infra.embedded import free_port

    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = io.StringIO()
    cfg = app.config
    sent = run_chat(
        down, down, cfg["WECHAT_TOKEN"], cfg["WECHAT_AES_KEY"], cfg["WECHAT_APPID"], OPENID,
        account_id=cfg["WECHAT_ACCOUNT_ID"], stdin=iter(["帮助\n", "还在吗\n", "/quit\n"]), stdout=out, poll_seconds=0,
    )  # fmt: skip
    text = out.getvalue()
    assert sent == 0  # nothing reached the webhook, so nothing is counted as sent
    assert "Traceback" not in text
    refused = [line for line in text.splitlines() if line.startswith(f"! the webhook at {down}/wechat not answering")]
    assert len(refused) == 2  # one line per typed line, and the second line was still tried
    assert f"! the WeChat sandbox at {down} not answering" in text
