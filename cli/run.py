"""`hongguan run`: everything on embedded defaults — Redis, migrations, demo data, sandbox, web, worker, cron."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from infra.config import load_config
from infra.embedded import EmbeddedRedis

SANDBOX_APPID = "wx-sandbox-appid"


def _child(name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    click.echo(f"  starting {name}: {' '.join(argv)}")
    return subprocess.Popen(argv, env=env)


def run_all(host: str, port: int, sandbox_port: int, workers: int) -> None:
    """Start every process, print the URLs, and stop them all on Ctrl-C (or when one of them dies)."""
    config = load_config()
    instance = Path(config["INSTANCE_PATH"])
    instance.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["HONGGUAN_INSTANCE_PATH"] = str(instance)
    hongguan = [sys.executable, "-m", "cli"]

    redis: EmbeddedRedis | None = None
    if not config["REDIS_URL"]:
        redis = EmbeddedRedis(instance / "redis", unix_socket=instance / "redis.sock").start()
        env["HONGGUAN_REDIS_URL"] = redis.url
        click.echo(f"embedded Redis (AOF under {instance / 'redis'}): {redis.url}")

    children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def _stop(signum: int, _frame: object) -> None:
        # Ctrl-C, `kill` and process managers all stop everything; also covers a start from a non-interactive
        # shell's background job, which begins with SIGINT ignored.
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        subprocess.run([*hongguan, "db", "upgrade"], env=env, check=True)
        subprocess.run([*hongguan, "seed-demo"], env=env, check=True)
        # The sandbox stands in for WeChat unless real credentials are configured.
        if not config["WECHAT_API_BASE"] and config["WECHAT_APPID"] == SANDBOX_APPID:
            env["HONGGUAN_WECHAT_API_BASE"] = f"http://127.0.0.1:{sandbox_port}"
            children.append(("sandbox", _child("sandbox", [*hongguan, "sandbox", "--port", str(sandbox_port)], env)))
        web = [
            sys.executable, "-m", "gunicorn", "wsgi:create_app()", "--workers", str(workers), "--bind",
            f"{host}:{port}", "--preload", "--no-control-socket", "--timeout", "30", "--access-logfile", "-",
        ]  # fmt: skip
        children.append(("web", _child("web", web, env)))
        children.append(("worker", _child("worker", [*hongguan, "worker"], env)))
        children.append(("scheduler", _child("scheduler", [*hongguan, "scheduler"], env)))
        time.sleep(1.0)
        click.echo("\nhongguan is running:")
        click.echo(f"  webhook        http://{host}:{port}/wechat   (token {config['WECHAT_TOKEN']!r}, AES mode)")
        click.echo(f"  health         http://{host}:{port}/healthz")
        click.echo(
            f"  mini-program   http://{host}:{port}/api/v1  (OpenAPI: /api/v1/openapi.json, docs: /api/v1/swagger)"
        )
        click.echo(f"  staff console  http://{host}:{port}/console/api")
        if "HONGGUAN_WECHAT_API_BASE" in env and not config["WECHAT_API_BASE"]:
            click.echo(f"  WeChat sandbox {env['HONGGUAN_WECHAT_API_BASE']}  (records every message sent)")
        click.echo("  try the bot:   .venv/bin/hongguan chat   (in another terminal)\nCtrl-C stops everything.\n")
        while True:
            for name, proc in children:
                if proc.poll() is not None:
                    raise click.ClickException(f"{name} exited with status {proc.returncode}; stopping everything")
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("\nstopping…")
    finally:
        for _, proc in reversed(children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, proc in children:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        if redis is not None:
            redis.stop()
        click.echo("stopped.")
