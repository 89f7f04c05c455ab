"""`hongguan run` (what `make run` calls) starts every process on embedded defaults and stops them all on a signal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from infra.embedded import free_port


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hongguan run exited early with {proc.returncode}")
        try:
            r = requests.get(url, timeout=2)
            if r.status_code == 200 and r.json()["status"] == "ok":
                return r.json()
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError("hongguan run did not become healthy")


@pytest.mark.slow
def test_run_starts_everything_answers_a_chat_and_stops_on_a_signal(tmp_path: Path):
    port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONGGUAN_")}
    env["HONGGUAN_INSTANCE_PATH"] = str(tmp_path / "instance")
    hongguan = [sys.executable, "-m", "cli"]
    proc = subprocess.Popen(
        [*hongguan, "run", "--port", str(port), "--sandbox-port", str(sandbox_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        health = _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        assert health["database"]["dialect"] == "sqlite"
        assert (tmp_path / "instance" / "hongguan.db").exists()
        assert (tmp_path / "instance" / "redis.sock").exists()  # the embedded Redis

        chat = subprocess.run(
            [*hongguan, "chat", "--url", f"http://127.0.0.1:{port}", "--sandbox", f"http://127.0.0.1:{sandbox_port}",
             "--openid", "o-e2e-resident-000000000001"],
            input="帮助\n3幢楼道里有人飞线充电给电动车充电，很危险\n/quit\n",
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert chat.returncode == 0, chat.stderr
        # The help command is answered passively ("< …"); the appeal's number and handling unit reach the
        # resident as a customer-service message that the worker sent through the sandbox.
        assert "< 红管家使用说明" in chat.stdout, chat.stdout
        cs_lines = [line for line in chat.stdout.splitlines() if line.startswith("[客服消息]")]
        assert any(re.search(r"编号\s*HG\d+", line) and "消防" in line for line in cs_lines), chat.stdout
        sent = requests.get(f"http://127.0.0.1:{sandbox_port}/sandbox/stats", timeout=5).json()
        assert sent["calls"] >= 1  # the worker talked to the (sandboxed) WeChat API
    finally:
        proc.send_signal(signal.SIGTERM)  # what `kill` or a process manager sends; Ctrl-C's SIGINT works alike
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert b"stopped." in out
    # The banner's chat hint reaches this run's ports, not the defaults.
    hint = f"hongguan chat --url http://127.0.0.1:{port} --sandbox http://127.0.0.1:{sandbox_port}"
    assert hint.encode() in out
    # …and it prints the console and a one-time sign-in link for the demo secretary and a grid leader.
    assert f"staff console  http://127.0.0.1:{port}/console/".encode() in out
    for who in ("the secretary", "the G1 grid leader"):
        assert f"sign in as {who}: http://127.0.0.1:{port}/console/login/link/".encode() in out
    # Nothing is left listening: web, sandbox and Redis are gone.
    for p in (port, sandbox_port):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{p}/", timeout=2)
    assert not (tmp_path / "instance" / "redis.sock").exists()


def test_make_run_passes_its_ports_to_hongguan_run():
    repo = Path(__file__).resolve().parents[2]
    plan = subprocess.run(
        ["make", "-n", "-C", str(repo), "run", "PORT=18000", "SANDBOX_PORT=18100"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert any(line.split()[-4:] == ["--port", "18000", "--sandbox-port", "18100"] for line in plan), plan
    default = subprocess.run(
        ["make", "-n", "-C", str(repo), "run"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    assert any(line.split() == [".venv/bin/hongguan", "run"] for line in default), default


def test_supervisor_restarts_a_dead_child_with_a_growing_backoff(capsys):
    from cli.run import RESTART_FIRST, Child

    starts: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        starts.append(subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"]))
        return starts[-1]

    child = Child("worker", start)
    child.launch()
    starts[-1].wait()
    now = child.started_at + 1  # it died within a second: a crash loop
    child.check(now)
    assert child.restart_at == now + RESTART_FIRST
    child.check(now + RESTART_FIRST / 2)
    assert len(starts) == 1  # not before its backoff
    child.check(now + RESTART_FIRST)
    assert len(starts) == 2
    assert child.restarts == 1
    starts[-1].wait()
    later = child.started_at + 1
    child.check(later)
    assert child.restart_at == later + 2 * RESTART_FIRST  # died again at once: twice the wait
    child.stop()
    assert child.restart_at is None
    err = capsys.readouterr().err
    assert f"worker (pid {starts[0].pid}) exited with status 3; restarting it in 1 s" in err
    assert f"worker (pid {starts[1].pid}) exited with status 3; restarting it in 2 s" in err


def test_a_killed_child_takes_what_it_forked_with_it(tmp_path: Path):
    from cli.run import Child, _own_group_and_die_with_parent

    pidfile = tmp_path / "grandchild.pid"
    script = (
        "import os, sys, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(60)\n"  # like RQ's forked scheduler: it outlives a SIGKILLed parent unless reaped
        "    sys.exit(0)\n"
        f"open({str(pidfile)!r}, 'w').write(str(pid))\n"
        "time.sleep(60)\n"
    )
    child = Child(
        "worker", lambda: subprocess.Popen([sys.executable, "-c", script], preexec_fn=_own_group_and_die_with_parent)
    )
    child.launch()
    assert child.process is not None
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline, "the child never forked"
        time.sleep(0.05)
    grandchild = int(pidfile.read_text())
    os.kill(child.process.pid, signal.SIGKILL)
    child.process.wait()
    child.check(time.monotonic())  # notices the death
    deadline = time.monotonic() + 10
    while _alive(grandchild):
        assert time.monotonic() < deadline, "the forked grandchild outlived its killed parent"
        time.sleep(0.05)
    child.stop()


def _alive(pid: int) -> bool:
    """Whether `pid` is a running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
