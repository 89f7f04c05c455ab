"""`hongguan run`: everything on embedded defaults — Redis, migrations, demo data, sandbox, web, worker, cron.

It supervises what it starts: a child that dies (a crash, an OOM kill, `kill -9`) is started again after a
backoff and a log line, while the others keep serving; only Ctrl-C or SIGTERM stops everything. The children run
in their own process group, so the terminal's Ctrl-C reaches this supervisor alone, which stops them in order
(no child prints a KeyboardInterrupt traceback), and they are sent SIGTERM if the supervisor itself dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import click

from infra.config import load_config
from infra.embedded import EmbeddedRedis

SANDBOX_APPID = "wx-sandbox-appid"
DEFAULT_PORT = 5000
DEFAULT_SANDBOX_PORT = 5100
LOCK_FILE = "hongguan-run.lock"

# Restart backoff: 1 s after the first death, doubling up to 30 s for a child that keeps dying; a child that
# stayed up for a minute starts again from 1 s.
RESTART_FIRST = 1.0
RESTART_MAX = 30.0
HEALTHY_AFTER = 60.0
POLL = 0.2

_PR_SET_PDEATHSIG = 1


def _own_group_and_die_with_parent() -> None:
    """In the child before exec: leave the terminal's process group; get SIGTERM when the supervisor dies."""
    os.setpgid(0, 0)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One supervised process: how to start it, the running process, and its restart backoff."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay: float = RESTART_FIRST
    restart_at: float | None = None
    restarts: int = 0

    def launch(self) -> None:
        """Start (or start again) the process."""
        self.process = self.start()
        self.started_at = time.monotonic()
        self.restart_at = None

    def check(self, now: float) -> None:
        """Notice a death and schedule the restart; perform a restart that is due."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restarts += 1
                click.echo(f"restarting {self.name} (restart {self.restarts})")
                self.launch()
            return
        if self.process is None or self.process.poll() is None:
            return
        if now - self.started_at >= HEALTHY_AFTER:
            self.delay = RESTART_FIRST
        status = self.process.returncode
        _kill_group(self.process.pid)  # what it forked (RQ's scheduler, gunicorn's workers) goes with it
        how = f"killed by {signal.Signals(-status).name}" if status < 0 else f"exited with status {status}"
        click.echo(f"{self.name} (pid {self.process.pid}) {how}; restarting it in {self.delay:.0f} s", err=True)
        self.restart_at = now + self.delay
        self.delay = min(self.delay * 2, RESTART_MAX)

    def stop(self) -> None:
        """Ask the process and what it forked to stop (SIGTERM to its process group); no restart follows."""
        self.restart_at = None
        if self.process is not None and self.process.poll() is None:
            _kill_group(self.process.pid, signal.SIGTERM)


def _kill_group(pgid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Signal every process left in a child's process group (each child leads its own group).

    A child that dies by SIGKILL leaves its own children running, and they do not inherit its death signal:
    RQ's worker forks its scheduler, gunicorn forks its workers. Left alone they would keep polling Redis and
    the database after the supervisor has moved on, and print tracebacks once Redis is stopped.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class _Popen:
    """Starts one `hongguan` child with the run's environment, printing what it starts."""

    name: str
    argv: list[str]
    env: dict[str, str]
    printed: list[str] = field(default_factory=list)

    def __call__(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(self.argv, env=self.env, preexec_fn=_own_group_and_die_with_parent)
        click.echo(f"  {self.name} (pid {proc.pid}): {' '.join(self.argv)}")
        return proc


def _stop_all(children: list[Child], grace: float = 10.0) -> None:
    """SIGTERM each child, wait up to `grace` seconds for all of them, then SIGKILL what is left."""
    for child in children:
        child.stop()
    deadline = time.monotonic() + grace
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
        _kill_group(child.process.pid)  # anything of its group still running after the grace period


def _claim_instance(instance: Path, host: str, port: int) -> IO[str]:
    """Hold the instance's run lock for the life of the process; a second `hongguan run` there is refused.

    Two runs in one instance would share its SQLite file and the embedded Redis socket, and the second one's
    Redis start would remove the first one's socket.
    """
    handle = (instance / LOCK_FILE).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise click.ClickException(
            f"hongguan run is already running in {instance} ({holder}); stop it first or use another "
            "HONGGUAN_INSTANCE_PATH"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, web http://{host}:{port}")
    handle.flush()
    return handle


def _chat_hint(host: str, port: int, sandbox_url: str | None) -> str:
    """The `hongguan chat` command line that reaches this run (ports included when not the defaults)."""
    hint = ".venv/bin/hongguan chat"
    reach = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104 - a listening address, not a bind
    if reach != "127.0.0.1" or port != DEFAULT_PORT:
        hint += f" --url http://{reach}:{port}"
    if sandbox_url and sandbox_url != f"http://127.0.0.1:{DEFAULT_SANDBOX_PORT}":
        hint += f" --sandbox {sandbox_url}"
    return hint


# The demo community's secretary and one grid leader (services.demo binds their WeChat as o-staff-<key>).
DEMO_SIGN_INS = (("the secretary", "o-staff-secretary"), ("the G1 grid leader", "o-staff-g1-leader"))


def reach_host(host: str) -> str:
    """The address a browser on this machine uses for a listening address (0.0.0.0 → 127.0.0.1)."""
    return "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104 - a listening address, not a bind


def _sign_in_links(hongguan: list[str], env: dict[str, str], base_url: str) -> list[str]:
    """One-time console sign-in links for the demo staff, from `hongguan staff-login` (none, said why, on failure)."""
    done = subprocess.run(
        [*hongguan, "staff-login", *(openid for _, openid in DEMO_SIGN_INS), "--base-url", base_url], env=env,
        capture_output=True, text=True, check=False, preexec_fn=_own_group_and_die_with_parent,
    )  # fmt: skip
    if done.returncode == 0:
        return done.stdout.split()
    why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    click.echo(f"no sign-in links ({why}); run `hongguan staff-login STAFF` for one", err=True)
    return []


def run_all(host: str, port: int, sandbox_port: int, workers: int) -> None:
    """Start every process, print the URLs, restart any that dies, and stop them all on Ctrl-C or SIGTERM."""
    config = load_config()
    instance = Path(config["INSTANCE_PATH"])
    instance.mkdir(parents=True, exist_ok=True)
    lock = _claim_instance(instance, host, port)
    env = dict(os.environ)
    env["HONGGUAN_INSTANCE_PATH"] = str(instance)
    # The embedded servers speak plain HTTP: console cookies without Secure, or no browser would send them back.
    env.setdefault("HONGGUAN_CONSOLE_COOKIE_SECURE", "false")
    hongguan = [sys.executable, "-m", "cli"]
    children: list[Child] = []
    redis: EmbeddedRedis | None = None

    def _stop(signum: int, _frame: object) -> None:
        # Ctrl-C, `kill` and process managers all stop everything; also covers a start from a non-interactive
        # shell's background job, which begins with SIGINT ignored.
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        if not config["REDIS_URL"]:
            redis = EmbeddedRedis(instance / "redis", unix_socket=instance / "redis.sock").start()
            env["HONGGUAN_REDIS_URL"] = redis.url
            click.echo(f"embedded Redis (pid {redis.pid}, AOF under {instance / 'redis'}): {redis.url}")
        for step in (["db", "upgrade"], ["seed-demo"]):
            subprocess.run([*hongguan, *step], env=env, check=True, preexec_fn=_own_group_and_die_with_parent)
        # Minted before anything else starts, so they are in the banner however busy the machine is.
        console = f"http://{reach_host(host)}:{port}"
        links = _sign_in_links(hongguan, env, console)
        sandbox_url = None
        # The sandbox stands in for WeChat unless real credentials are configured.
        if not config["WECHAT_API_BASE"] and config["WECHAT_APPID"] == SANDBOX_APPID:
            sandbox_url = f"http://127.0.0.1:{sandbox_port}"
            env["HONGGUAN_WECHAT_API_BASE"] = sandbox_url
            children.append(
                Child("sandbox", _Popen("sandbox", [*hongguan, "sandbox", "--port", str(sandbox_port)], env))
            )
        web = [
            sys.executable, "-m", "gunicorn", "wsgi:create_app()", "--config", "python:infra.gunicorn_config",
            "--workers", str(workers), "--bind", f"{host}:{port}",
        ]  # fmt: skip
        children.append(Child("web", _Popen("web", web, env)))
        children.append(Child("worker", _Popen("worker", [*hongguan, "worker"], env)))
        children.append(Child("scheduler", _Popen("scheduler", [*hongguan, "scheduler"], env)))
        for child in children:
            child.launch()
        time.sleep(1.0)
        click.echo("\nhongguan is running:")
        click.echo(f"  webhook        http://{host}:{port}/wechat   (token {config['WECHAT_TOKEN']!r}, AES mode)")
        click.echo(f"  health         http://{host}:{port}/healthz")
        click.echo(
            f"  mini-program   http://{host}:{port}/api/v1  (OpenAPI: /api/v1/openapi.json, docs: /api/v1/swagger)"
        )
        click.echo(f"  staff console  {console}/console/   (JSON API: /console/api)")
        if sandbox_url:
            click.echo(f"  WeChat sandbox {sandbox_url}  (records every message sent)")
        click.echo(f"  try the bot:   {_chat_hint(host, port, sandbox_url)}   (in another terminal)")
        for who, link in zip((w for w, _ in DEMO_SIGN_INS), links, strict=False):
            click.echo(f"  sign in as {who}: {link}   (one use, 15 minutes; more: hongguan staff-login)")
        click.echo("Ctrl-C stops everything.\n")
        redis_delay, redis_down_at = RESTART_FIRST, None
        while True:
            now = time.monotonic()
            if redis is not None and redis.process is not None and redis.process.poll() is not None:
                if redis_down_at is None:
                    status = redis.process.returncode
                    how = f"killed by {signal.Signals(-status).name}" if status < 0 else f"exited with status {status}"
                    click.echo(f"embedded Redis {how}; restarting it in {redis_delay:.0f} s", err=True)
                    redis_down_at = now + redis_delay
                elif now >= redis_down_at:
                    redis.start()  # from its AOF: the queues are back as they were
                    click.echo(f"embedded Redis restarted (pid {redis.pid})")
                    redis_delay, redis_down_at = min(redis_delay * 2, RESTART_MAX), None
            for child in children:
                child.check(now)
            time.sleep(POLL)
    except KeyboardInterrupt:
        click.echo("\nstopping…")
    except subprocess.CalledProcessError as e:
        raise click.ClickException(f"`hongguan {' '.join(e.cmd[3:])}` failed with status {e.returncode}") from None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        # Web, worker and cron first (the worker finishes the job in hand), then the sandbox they may still be
        # calling, then Redis: nothing in flight meets a part that is already gone.
        _stop_all([c for c in children if c.name != "sandbox"])
        _stop_all([c for c in children if c.name == "sandbox"])
        if redis is not None:
            redis.stop()
        lock.close()
        click.echo("stopped.")
