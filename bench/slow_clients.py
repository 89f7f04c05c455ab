"""Benchmark: webhook answer latency while slow clients and slow upstream calls hold the web process.

Starts its own Redis, the WeChat sandbox and a seeded SQLite database (as bench/webhook.py does), then serves
the app with two gunicorn configurations in turn: the sync workers `hongguan run` used to start
(`--workers 2 --preload --timeout 30`) and the project's config module (`-c python:infra.gunicorn_config`).
Against each it runs four scenarios, and in each sends `--pushes` signed, encrypted text pushes one after the
other, timing each answer:

- none: nothing else;
- 4 slow-body: four clients that sent a push's headers and then its 400-byte body at 1 byte/s;
- 4 slow-login: four mini-program clients logging in over and over while the sandbox delays jscode2session
  by `--login-delay` seconds (its fault injection, /sandbox/fail), so each login holds its request that long;
- both: the four slow bodies and the four slow logins at once.

A push not answered within `--push-timeout` seconds (WeChat gives up at 5 s) counts as lost.

Run: .venv/bin/python bench/slow_clients.py [--pushes 8] [--login-delay 4] [--push-timeout 10]
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_bench"
SLOW_BODY_BYTES = 400

CONFIGS = {
    "sync -w2 (old hongguan run)": [
        "--worker-class", "sync", "--workers", "2", "--preload", "--timeout", "30", "--no-control-socket",
    ],
    "gthread 2x16 (infra/gunicorn_config.py)": ["-c", "python:infra.gunicorn_config"],
}  # fmt: skip


def _free_port() -> int:
    from infra.embedded import free_port

    return free_port()


def _wait_http(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start")


def _push(port: int, timeout: float) -> float | None:
    """One signed, encrypted text push from a new resident: seconds to its answer, or None when lost."""
    from wechat.chat import FakeWeChat

    fake = FakeWeChat(TOKEN, AES_KEY, "wx-sandbox-appid", f"oSlow{secrets.token_hex(10)}", account_id=ACCOUNT)
    params, body = fake.push(fake.command("帮助"))
    started = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("POST", "/wechat?" + urlencode(params), body=body, headers={"Content-Type": "text/xml"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
    except OSError:
        return None
    if resp.status != 200 or b"<Encrypt>" not in data:
        return None
    return time.perf_counter() - started


def _slow_body(port: int, stop: threading.Event) -> None:
    """Headers at once, then the body at 1 byte/s until stopped (a client on a very bad mobile link)."""
    from wechat.chat import FakeWeChat

    fake = FakeWeChat(TOKEN, AES_KEY, "wx-sandbox-appid", f"oSlow{secrets.token_hex(10)}", account_id=ACCOUNT)
    params, _ = fake.push(fake.command("帮助"))
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        head = (
            f"POST /wechat?{urlencode(params)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {SLOW_BODY_BYTES}\r\n\r\n"
        )
        sock.sendall(head.encode())
        while not stop.wait(1.0):
            sock.sendall(b" ")
    except OSError:
        return
    finally:
        sock.close()


def _slow_logins(port: int, stop: threading.Event) -> None:
    """Mini-program logins one after another; the sandbox holds each jscode2session call."""
    user = secrets.token_hex(4)
    while not stop.is_set():
        try:
            requests.post(
                f"http://127.0.0.1:{port}/api/v1/auth/login",
                json={"code": f"{user}:{secrets.token_hex(6)}"},
                timeout=30,
            )
        except requests.RequestException:
            time.sleep(0.5)


def run_scenario(port: int, sandbox_url: str, slow_bodies: int, slow_logins: int, args: argparse.Namespace) -> list:
    """Start the slow clients, give them a second to take their seats, then time the pushes."""
    stop = threading.Event()
    requests.post(f"{sandbox_url}/sandbox/reset", timeout=5)
    if slow_logins:
        fault = {"path": "/sns/jscode2session", "delay": args.login_delay, "times": 100000}
        requests.post(f"{sandbox_url}/sandbox/fail", json=fault, timeout=5)
    threads: list[threading.Thread] = []
    workers: list[Callable[[int, threading.Event], None]] = [_slow_body] * slow_bodies + [_slow_logins] * slow_logins
    for target in workers:
        thread = threading.Thread(target=target, args=(port, stop), daemon=True)
        thread.start()
        threads.append(thread)
    time.sleep(1.5)
    timings = []
    for _ in range(args.pushes):
        timings.append(_push(port, args.push_timeout))
        time.sleep(0.25)
    stop.set()
    requests.post(f"{sandbox_url}/sandbox/reset", timeout=5)
    for thread in threads:
        thread.join(args.login_delay + 35)
    return timings


def main() -> None:
    """Run every configuration against every scenario and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=8, help="timed pushes per scenario")
    parser.add_argument("--login-delay", type=float, default=4.0, help="seconds the sandbox holds jscode2session")
    parser.add_argument("--push-timeout", type=float, default=10.0, help="seconds after which a push is lost")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandbox's per-request lines

    import models
    from infra.db import make_engine
    from infra.embedded import EmbeddedRedis
    from services.appeals.routing import seed_routing
    from services.demo import seed_org
    from wechat.sandbox import SandboxServer

    tmp = Path(tempfile.mkdtemp(prefix="hongguan-bench-slow-"))
    redis = EmbeddedRedis(tmp / "redis", persist=False).start()
    sandbox = SandboxServer(port=0).start()
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    engine = make_engine(db_url)
    models.Base.metadata.create_all(engine)
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        seed_org(session)
        seed_routing(session)
        session.commit()
    engine.dispose()
    env = {
        **os.environ,
        "HONGGUAN_ENV": "development",
        "HONGGUAN_INSTANCE_PATH": str(tmp / "instance"),
        "HONGGUAN_DATABASE_URL": db_url,
        "HONGGUAN_REDIS_URL": redis.url,
        "HONGGUAN_WECHAT_API_BASE": sandbox.url,
        "HONGGUAN_WECHAT_TOKEN": TOKEN,
        "HONGGUAN_WECHAT_AES_KEY": AES_KEY,
        "HONGGUAN_WECHAT_APPID": sandbox.appid,
        "HONGGUAN_WECHAT_ACCOUNT_ID": ACCOUNT,
        "HONGGUAN_MINIAPP_APPID": sandbox.miniapp_appid,
        "HONGGUAN_MINIAPP_SECRET": sandbox.miniapp_secret,
        "PYTHONPATH": str(REPO),
    }
    scenarios = {"none": (0, 0), "4 slow-body": (4, 0), "4 slow-login": (0, 4), "both": (4, 4)}
    rows = []
    try:
        for name, flags in CONFIGS.items():
            port = _free_port()
            argv = [sys.executable, "-m", "gunicorn", "wsgi:create_app()", *flags, "--bind", f"127.0.0.1:{port}",
                    "--access-logfile", "/dev/null", "--error-logfile", str(tmp / "gunicorn.log")]  # fmt: skip
            proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                _wait_http(port)
                for _ in range(4):  # warm-up: every worker has opened its connections
                    _push(port, 30)
                for scenario, (bodies, logins) in scenarios.items():
                    timings = run_scenario(port, sandbox.url, bodies, logins, args)
                    rows.append((name, scenario, timings))
            finally:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    finally:
        sandbox.stop()
        redis.stop()

    print(f"\n{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.pushes} pushes per scenario, jscode2session held {args.login_delay:g} s, "
          f"a push is lost after {args.push_timeout:g} s\n")  # fmt: skip
    print("| gunicorn | background | answered | < 1 s | median ms | max ms |")
    print("|---|---|---|---|---|---|")
    for name, scenario, timings in rows:
        ok = [t for t in timings if t is not None]
        under = sum(1 for t in ok if t < 1.0)
        median = f"{statistics.median(ok) * 1000:.0f}" if ok else "-"
        worst = f"{max(ok) * 1000:.0f}" if ok else "-"
        print(f"| {name} | {scenario} | {len(ok)}/{len(timings)} | {under}/{len(timings)} | {median} | {worst} |")


if __name__ == "__main__":
    main()
