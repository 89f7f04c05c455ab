"""`hongguan run` rides out dead parts, with real processes: its embedded Redis is killed in the middle of 200
pushes and its worker is SIGKILLed; the supervisor restarts both, the webhook never stops answering, and every
stored message is handled exactly once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
import sqlalchemy as sa

from infra.config import load_config
from infra.embedded import free_port
from wechat.chat import FakeWeChat

PUSHES = 200
TEXTS = ["小区北门的路灯坏了", "楼道里堆满了杂物", "垃圾站没有清运", "井盖松动了", "电梯停了", "门口车乱停"]


def _wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _pids(log: Path, name: str) -> list[int]:
    pattern = rf"^\s*{name} \(pid (\d+)" if name != "redis" else r"embedded Redis (?:\(pid|restarted \(pid) (\d+)"
    return [int(m) for m in re.findall(pattern, log.read_text(), re.MULTILINE)]


def _push(fake: FakeWeChat, base: str, text: str) -> int:
    params, body = fake.push(fake.fields("text", Content=text))
    return requests.post(f"{base}/wechat?{urlencode(params)}", data=body, timeout=10).status_code


def _counts(engine: sa.Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        stored = conn.scalar(sa.text("SELECT count(*) FROM inbound_message WHERE openid LIKE 'oSupervised%'"))
        handled = conn.scalar(
            sa.text("SELECT count(*) FROM inbound_message WHERE openid LIKE 'oSupervised%' AND status = 'handled'")
        )
        doubled = conn.scalar(
            sa.text(
                "SELECT count(*) FROM (SELECT inbound_message_id FROM appeal WHERE inbound_message_id IS NOT NULL"
                " GROUP BY inbound_message_id HAVING count(*) > 1)"
            )
        )
    return int(stored or 0), int(handled or 0), int(doubled or 0)


@pytest.mark.slow
def test_run_survives_a_killed_redis_and_a_killed_worker(tmp_path: Path):
    port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONGGUAN_")}
    env["HONGGUAN_INSTANCE_PATH"] = str(tmp_path / "instance")
    config = load_config(environ=env)
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "run", "--port", str(port), "--sandbox-port", str(sandbox_port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'instance' / 'hongguan.db'}")
    try:
        _wait_for(lambda: _healthy(base, proc), 90, "hongguan run to become healthy")
        redis_pid = _pids(log, "redis")[0]
        statuses: list[int] = []

        def send() -> None:
            for i in range(PUSHES):
                fake = FakeWeChat(
                    config["WECHAT_TOKEN"], config["WECHAT_AES_KEY"], config["WECHAT_APPID"],
                    f"oSupervised{i:019d}", account_id=config["WECHAT_ACCOUNT_ID"],
                )  # fmt: skip
                statuses.append(_push(fake, base, f"{TEXTS[i % len(TEXTS)]}（{i}号）"))

        sender = threading.Thread(target=send)
        sender.start()
        _wait_for(lambda: len(statuses) >= PUSHES // 4, 60, "the first pushes")
        os.kill(redis_pid, signal.SIGKILL)  # Redis dies mid-load; the supervisor starts it again from its AOF
        sender.join(120)
        assert statuses == [200] * PUSHES
        new_redis = _wait_for(lambda: [p for p in _pids(log, "redis") if p != redis_pid], 30, "Redis restarted")
        assert new_redis
        _wait_for(lambda: _counts(engine)[1] >= PUSHES, 120, "every message handled")
        assert _counts(engine) == (PUSHES, PUSHES, 0)  # 200 stored, 200 handled, 0 doubled

        text = log.read_text()
        assert "embedded Redis killed by SIGKILL; restarting it" in text
        assert "web (pid" in text
        assert "restarting web" not in text

        # A SIGKILLed worker is started again, and the new one does the work.
        worker_pid = _pids(log, "worker")[-1]
        os.kill(worker_pid, signal.SIGKILL)
        _wait_for(lambda: [p for p in _pids(log, "worker") if p != worker_pid], 30, "a new worker")
        assert f"worker (pid {worker_pid}) killed by SIGKILL; restarting it in 1 s" in log.read_text()
        fake = FakeWeChat(
            config["WECHAT_TOKEN"], config["WECHAT_AES_KEY"], config["WECHAT_APPID"], "oSupervisedAfterKill0001",
            account_id=config["WECHAT_ACCOUNT_ID"],
        )  # fmt: skip
        assert _push(fake, base, "路灯又坏了") == 200
        _wait_for(lambda: _counts(engine)[1] == PUSHES + 1, 60, "the message after the worker restart")

        # A second `hongguan run` in the same instance is refused in one line and leaves the first one intact.
        second = subprocess.run(
            [sys.executable, "-m", "cli", "run", "--port", str(free_port()), "--sandbox-port", str(free_port())],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 1
        assert second.stdout == ""
        assert second.stderr.strip().splitlines() == [
            f"Error: hongguan run is already running in {tmp_path / 'instance'} (pid {proc.pid}, web {base}); "
            "stop it first or use another HONGGUAN_INSTANCE_PATH"
        ]
        assert (tmp_path / "instance" / "redis.sock").exists()
        assert _push(fake, base, "路灯还是坏的") == 200
    finally:
        engine.dispose()
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground process group
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    shutdown = log.read_text().split("\nstopping…\n", 1)
    assert len(shutdown) == 2
    assert "Traceback" not in shutdown[1], shutdown[1]
    assert "KeyboardInterrupt" not in shutdown[1]
    assert shutdown[1].rstrip().endswith("stopped.")
    assert not (tmp_path / "instance" / "redis.sock").exists()


def _healthy(base: str, proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, f"hongguan run exited with {proc.returncode}"
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False
