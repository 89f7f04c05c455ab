"""The web process's gunicorn settings (infra/gunicorn_config.py), served for real: slow clients do not stop a
push from being answered, and the access log carries no openid, signature or nonce."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from infra import privacy
from infra.embedded import free_port
from wechat.chat import FakeWeChat

REPO = Path(__file__).resolve().parents[2]
OPENID = "oGunicornResident0000000000001"


def _env(app_config: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONGGUAN_")}
    for key in ("DATABASE_URL", "REDIS_URL", "INSTANCE_PATH", "WECHAT_API_BASE", "WECHAT_APPID", "WECHAT_SECRET",
                "MINIAPP_APPID", "MINIAPP_SECRET", "WECHAT_TOKEN", "WECHAT_AES_KEY", "WECHAT_ACCOUNT_ID"):  # fmt: skip
        env[f"HONGGUAN_{key}"] = str(app_config[key])
    return env


def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "gunicorn exited"
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError("gunicorn did not answer")


def _wait_for_calls(sandbox: Any, path: str, n: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(sandbox.calls(path)) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"{n} calls of {path} never reached the sandbox")


def _slow_body(port: int, query: str, stop: threading.Event) -> None:
    """A validly signed push whose 1,000-byte body arrives at 1 byte/s (a very bad mobile link) until `stop`."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"POST /wechat?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".encode())
        while not stop.wait(1.0):
            sock.sendall(b" ")


@pytest.mark.slow
def test_gunicorn_config_answers_a_push_past_slow_clients_and_redacts_the_access_log(app_config, org, sandbox):
    port = free_port()
    log_path = Path(app_config["INSTANCE_PATH"]) / "access.log"
    Path(app_config["INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "gunicorn", "-c", "python:infra.gunicorn_config", "--bind", f"127.0.0.1:{port}",
           "--access-logfile", str(log_path)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(app_config), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    stop_slow = threading.Event()
    slow: list[threading.Thread] = []
    try:
        _wait_up(f"http://127.0.0.1:{port}/healthz", proc)
        # Two workers: with sync workers, two such clients were enough to hold every worker.
        for i in range(6):
            slow_fake = FakeWeChat(app_config["WECHAT_TOKEN"], app_config["WECHAT_AES_KEY"], "x", f"oSlow{i:024d}")
            query = urlencode(slow_fake.push(slow_fake.fields("text", Content="…"))[0])
            slow.append(threading.Thread(target=_slow_body, args=(port, query, stop_slow)))
            slow[-1].start()
        # And four mini-program logins held by a slow jscode2session (the sandbox delays it).
        sandbox_fault = {"path": "/sns/jscode2session", "delay": 3, "times": 4}
        requests.post(f"{sandbox.url}/sandbox/fail", json=sandbox_fault, timeout=5)
        logins = [
            threading.Thread(
                target=requests.post,
                args=(f"http://127.0.0.1:{port}/api/v1/auth/login",),
                kwargs={"json": {"code": f"slow{i}:code"}, "timeout": 30},
            )
            for i in range(4)
        ]
        for login in logins:
            login.start()
        _wait_for_calls(sandbox, "/sns/jscode2session", 4)  # all four are inside WeChat's slow call
        fake = FakeWeChat(
            app_config["WECHAT_TOKEN"], app_config["WECHAT_AES_KEY"], app_config["WECHAT_APPID"], OPENID,
            account_id=app_config["WECHAT_ACCOUNT_ID"],
        )  # fmt: skip
        params, body = fake.push(fake.fields("text", Content="楼道灯坏了，电话13912345678"))
        resp = requests.post(f"http://127.0.0.1:{port}/wechat?{urlencode(params)}", data=body, timeout=20)
        assert resp.status_code == 200
        assert fake.read_reply(resp.text) is not None  # the encrypted acknowledgement, not a refusal
        for login in logins:
            login.join(30)
    finally:
        stop_slow.set()
        for client in slow:
            client.join(10)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    access = log_path.read_text()
    push_lines = [line for line in access.splitlines() if f"openid={privacy.pseudonym(OPENID)}" in line]
    assert len(push_lines) == 1, access
    assert "/wechat?signature=***&timestamp=" in push_lines[0]
    assert '" 200 ' in push_lines[0]
    for secret in (OPENID, params["signature"], params["nonce"], params["msg_signature"]):
        assert secret not in access
    assert f"timestamp={params['timestamp']}" in push_lines[0]
    assert OPENID not in out.decode()
