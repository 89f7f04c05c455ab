"""Benchmark: POST /wechat (safe mode, new MsgId each time) vs bare Flask under the same gunicorn.

Starts its own Redis (infra.embedded.EmbeddedRedis), the WeChat sandbox, a temp SQLite database built with
`models.Base.metadata.create_all` and seeded with the demo community, and two gunicorn servers with identical
settings (2 workers): `wsgi:create_app()` and a bare Flask app returning a constant. A Python load generator,
one forked process of threads per core, keeps N connections busy (one request per connection: gunicorn's sync
workers do not keep alive); the table's "workers idle" column is the share of the run the servers' workers were
blocked (waiting for the next connection, or on a lock).
Each webhook request is an encrypted text message from a new resident, so it runs the whole request path:
signature, timestamp, decrypt, safe XML parse, the sender's dialog state, the inbound log insert
(the request's one write), encrypted passive acknowledgement. Handing the stored message to RQ is the relay's
job (jobs/relay.py, a thread of `hongguan scheduler`), and intake (classifier, routing, appeal, dispatch,
notifications) runs in the RQ worker; the measured path waits for neither. After the timed rounds the script
runs the real `hongguan scheduler` (relay) and `hongguan worker` for `--drain` seconds and reports how fast the
relay handed the backlog to RQ and how many queued messages the worker turned into appeals, so the deferred
half is measured too. Rounds alternate bare/webhook to share the machine's noise.

Run: .venv/bin/python bench/webhook.py [--duration 6] [--rounds 5] [--connections 32] [--loadgen-processes 2]
     [--drain 60]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import multiprocessing
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask import Flask

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_bench"
TEXTS = [
    "小区北门的路灯坏了一个星期了，晚上很黑",
    "楼道里堆满了杂物，消防通道被堵住了",
    "垃圾站三天没有清运，气味很大",
    "楼上装修每天早上七点就开始电钻，太吵了",
    "路边井盖松动了，踩上去会翻",
    "小区门口有车乱停，堵住了消防通道",
    "电梯又停了，老人下不了楼",
    "请问办理居住证需要带什么材料",
]


def bare_app() -> Flask:
    """The reference: a Flask endpoint that returns a constant (`success`, what the webhook often says)."""
    app = Flask("bare")

    @app.post("/wechat")
    def constant() -> str:
        return "success"

    return app


# ----------------------------------------------------------------------------------------------- servers


def _free_port() -> int:
    from infra.embedded import free_port

    return free_port()


def _wait_http(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start")


def start_gunicorn(target: str, port: int, env: dict[str, str], workers: int, log: Path) -> subprocess.Popen:
    """gunicorn with the settings shared by both servers."""
    args = [
        sys.executable, "-m", "gunicorn", target,
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", "sync",
        "--preload",  # jieba's dictionary is shared copy-on-write
        "--backlog", "2048",
        "--timeout", "60",
        "--no-control-socket",
        "--log-level", "warning",
        "--error-logfile", str(log),
    ]  # fmt: skip
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(port)
    except RuntimeError:
        proc.kill()
        raise RuntimeError(f"gunicorn {target} failed; see {log}") from None
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Stop a gunicorn master and its workers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process and its children (gunicorn master + workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15 of stat)
    return total


def worker_schedstat(pid: int) -> dict[int, tuple[int, int]]:
    """(ns on a CPU, ns runnable but waiting for one) of each gunicorn worker, from /proc/<pid>/schedstat."""
    out = {}
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                on_cpu, waiting, _ = Path(f"/proc/{child}/schedstat").read_text().split()
                out[int(child)] = (int(on_cpu), int(waiting))
    return out


def worker_idle(pid: int, before: dict[int, tuple[int, int]], seconds: float) -> float:
    """The share of `seconds` the workers were neither running nor runnable: blocked on accept() waiting for
    the load generator's next connection, or on a lock (the hot path's flock; for what is handled inline in
    a Session, SQLite's busy handler, which sleeps in millisecond steps)."""
    after = worker_schedstat(pid)
    workers = [w for w in before if w in after]
    if not workers or seconds <= 0:
        return float("nan")
    busy = sum((after[w][0] - before[w][0]) + (after[w][1] - before[w][1]) for w in workers) / 1e9
    return max(0.0, 1 - busy / (seconds * len(workers)))


# ----------------------------------------------------------------------------------------------- load


@dataclass
class Result:
    """One timed run against one server."""

    name: str
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    bad_replies: int = 0
    cpu: float = 0.0  # server CPU seconds used during the run
    idle: float = float("nan")  # share of the run the workers waited for a request (neither running nor runnable)

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu / self.ok * 1000 if self.ok else float("nan")

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000 if data else float("nan")


def make_webhook_requests(n: int, command: str | None = None) -> list[tuple[str, bytes]]:
    """`n` encrypted text pushes, each from a new resident with a new MsgId, signed as WeChat does.

    Texts are appeals (the full intake path) unless `command` is given (e.g. "帮助": the same webhook path
    with a canned answer instead of intake, which isolates the webhook's own cost).
    """
    from wechat.chat import FakeWeChat

    out = []
    for i in range(n):
        fake = FakeWeChat(TOKEN, AES_KEY, "wx-sandbox-appid", f"oBench{secrets.token_hex(10)}", account_id=ACCOUNT)
        params, body = fake.push(fake.command(command or TEXTS[i % len(TEXTS)]))
        out.append(("/wechat?" + urlencode(params), body))
    return out


def _load_threads(
    name: str, port: int, requests: list[tuple[str, bytes]], stop_at: float, connections: int
) -> tuple[list[float], int, int, float, float]:
    """`connections` threads of one process, each one request per TCP connection until `stop_at`:
    (latencies, errors, bad replies, start, end) on the machine-wide monotonic clock."""
    lock = threading.Lock()
    index = iter(range(len(requests)))
    check_reply = name.startswith("webhook")
    latencies: list[float] = []
    counts = [0, 0]  # errors, bad replies

    def worker() -> None:
        mine: list[float] = []
        errors = bad = 0
        while time.monotonic() < stop_at:
            with lock:
                i = next(index, None)
            if i is None:
                break
            path, body = requests[i]
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", path, body=body, headers={"Content-Type": "text/xml"})
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
            except OSError:
                errors += 1
                continue
            elapsed = time.perf_counter() - started
            if resp.status != 200:
                errors += 1
                continue
            if check_reply and b"<Encrypt>" not in data:
                bad += 1
            mine.append(elapsed)
        with lock:
            latencies.extend(mine)
            counts[0] += errors
            counts[1] += bad

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, counts[0], counts[1], began, time.monotonic()


def _load_child(send: Any, *args: Any) -> None:
    send.send(_load_threads(*args))
    send.close()


def run_load(
    name: str, port: int, requests: list[tuple[str, bytes]], duration: float, connections: int, processes: int = 1
) -> Result:
    """Keep `connections` requests in flight for `duration` seconds, one request per TCP connection, from
    `processes` forked processes of threads.

    One Python process cannot keep 32 connections busy against a fast endpoint: its threads take turns on the
    GIL, and the servers' workers then wait for the next connection (measured with /proc/<pid>/schedstat:
    the bare endpoint's workers waited ~30 % of the time, the webhook's ~20 %). One process per core
    removes that limit, so the servers, not the generator, set the rate.
    """
    stop_at = time.monotonic() + duration
    if processes <= 1:
        parts = [_load_threads(name, port, requests, stop_at, connections)]
    else:
        ctx = multiprocessing.get_context("fork")
        children = []
        for k in range(processes):
            receive, send = ctx.Pipe(duplex=False)
            share = connections // processes + (1 if k < connections % processes else 0)
            proc = ctx.Process(target=_load_child, args=(send, name, port, requests[k::processes], stop_at, share))
            proc.start()
            send.close()
            children.append((proc, receive))
        parts = []
        for proc, receive in children:
            parts.append(receive.recv())
            proc.join()
    result = Result(name)
    for latencies, errors, bad, _, _ in parts:
        result.latencies.extend(latencies)
        result.errors += errors
        result.bad_replies += bad
    result.seconds = max(p[4] for p in parts) - min(p[3] for p in parts)
    return result


# ----------------------------------------------------------------------------------------------- main


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Five short rounds rather than three long ones: the servers take turns more often, so a change in the
    # shared machine's load lands on both sides of the ratio.
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per timed run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating bare/webhook rounds")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--loadgen-processes", type=int, default=os.cpu_count() or 2, help="load generator processes (threads split)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-rate", type=int, default=3000, help="upper bound used to pre-build requests")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite", help="webhook database")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds of RQ worker after the rounds")
    args = parser.parse_args()

    import models
    from infra.db import make_engine
    from infra.embedded import EmbeddedRedis
    from services.demo import seed_org
    from wechat.sandbox import SandboxServer

    tmp = Path(tempfile.mkdtemp(prefix="hongguan-bench-"))
    redis = EmbeddedRedis(tmp / "redis", persist=False).start()
    sandbox = SandboxServer(port=0).start()
    pg = None
    if args.db == "postgres":
        from infra.embedded import EmbeddedPostgres

        pg = EmbeddedPostgres().start()
        db_url = pg.url
    else:
        db_url = f"sqlite:///{tmp / 'bench.db'}"
    engine = make_engine(db_url)
    if pg is not None:
        from sqlalchemy import text

        with engine.begin() as conn:  # booking's exclusion constraint needs it (as in the test fixtures)
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS btree_gist"))
    models.Base.metadata.create_all(engine)
    from sqlalchemy.orm import Session

    from services.appeals.routing import seed_routing

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
        "PYTHONPATH": str(REPO),
    }
    ports = {"bare": _free_port(), "webhook": _free_port()}
    servers = {
        "bare": start_gunicorn("bench.webhook:bare_app()", ports["bare"], env, args.workers, tmp / "bare.log"),
        "webhook": start_gunicorn("wsgi:create_app()", ports["webhook"], env, args.workers, tmp / "webhook.log"),
    }
    # Three servers-under-test, timed in alternation: the bare endpoint, the webhook filing appeals (the
    # benchmark the issue asks for), and the webhook answering a menu command (its own cost, without intake).
    variants = {"bare": ("bare", None), "webhook": ("webhook", None), "webhook (帮助)": ("webhook", "帮助")}
    results: dict[str, list[Result]] = {name: [] for name in variants}
    try:
        # Warm-up: every worker loads jieba's dictionary and opens its connections before timing starts.
        warm = make_webhook_requests(40)
        run_load("warmup", ports["webhook"], warm, 30, 4)
        run_load("warmup", ports["bare"], warm, 2, 4)
        for _ in range(args.rounds):
            for name, (server, command) in variants.items():
                # Pre-built so the load generator spends no CPU on AES while timing; timestamps stay fresh.
                reqs = make_webhook_requests(int(args.max_rate * args.duration), command)
                before, sched = cpu_seconds(servers[server].pid), worker_schedstat(servers[server].pid)
                result = run_load(name, ports[server], reqs, args.duration, args.connections, args.loadgen_processes)
                result.cpu = cpu_seconds(servers[server].pid) - before
                result.idle = worker_idle(servers[server].pid, sched, result.seconds)
                results[name].append(result)
                time.sleep(1)
        # The deferred half: a real worker (fork per job, as `hongguan run` starts it) drains the queue for
        # a while after the timed rounds, with the web servers idle, so its CPU is not charged to them.
        drained = drain_queue(env, tmp / "worker.log", args.drain, db_url)
    finally:
        for proc in servers.values():
            stop(proc)
        sandbox.stop()

    engine = make_engine(db_url)
    with engine.connect() as conn:
        from sqlalchemy import func, select

        appeals = conn.execute(select(func.count()).select_from(models.Appeal)).scalar_one()
        inbound = conn.execute(select(func.count()).select_from(models.InboundMessage)).scalar_one()
        handled = conn.execute(
            select(func.count()).select_from(models.InboundMessage).where(models.InboundMessage.status == "handled")
        ).scalar_one()
        queued = conn.execute(
            select(func.count()).select_from(models.InboundMessage).where(models.InboundMessage.status == "queued")
        ).scalar_one()
    engine.dispose()
    redis.stop()
    if pg is not None:
        pg.stop()
    shutil.rmtree(tmp, ignore_errors=True)

    load = os.getloadavg()[0]
    print(f"\nPOST /wechat vs bare Flask: gunicorn -w {args.workers} sync --preload,")
    print(f"{args.connections} connections from {args.loadgen_processes} load generator processes,")
    print("one request per connection;")
    print(f"{args.rounds} alternating rounds × {args.duration:.0f} s; Python {platform.python_version()},")
    print(f"{os.cpu_count()} cores, load average at the end {load:.1f}; webhook database: {args.db}")
    print()
    print("| server | round | requests | req/s | p50 ms | p99 ms | max ms | CPU ms/req | workers idle | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, rounds in results.items():
        for i, r in enumerate(rounds, 1):
            print(
                f"| {name} | {i} | {r.ok} | {r.rps:,.0f} | {r.pct(0.50):.1f} | {r.pct(0.99):.1f} | "
                f"{max(r.latencies, default=0) * 1000:.1f} | {r.cpu_ms_per_request:.2f} | {r.idle:.0%} | "
                f"{r.errors + r.bad_replies} |"
            )
    med = {n: statistics.median(r.rps for r in rs) for n, rs in results.items()}
    pooled = {n: Result(n, latencies=[x for r in rs for x in r.latencies]) for n, rs in results.items()}
    print()
    print("| summary | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    print("| median req/s | " + " | ".join(f"{med[n]:,.0f}" for n in results) + " |")
    print("| ratio to bare | " + " | ".join(f"{med[n] / med['bare']:.2f}" for n in results) + " |")
    print("| p50 ms (all rounds) | " + " | ".join(f"{pooled[n].pct(0.5):.1f}" for n in results) + " |")
    print("| p99 ms (all rounds) | " + " | ".join(f"{pooled[n].pct(0.99):.1f}" for n in results) + " |")
    cpu = {n: statistics.median(r.cpu_ms_per_request for r in rs) for n, rs in results.items()}
    print("| server CPU ms/request (median) | " + " | ".join(f"{cpu[n]:.2f}" for n in results) + " |")
    print("| requests per server-CPU-second | " + " | ".join(f"{1000 / cpu[n]:,.0f}" for n in results) + " |")
    ratio = med["webhook"] / med["bare"] if med["bare"] else float("nan")
    per_round = [w.rps / b.rps for b, w in zip(results["bare"], results["webhook"], strict=True) if b.rps]
    print("| webhook/bare, round by round | " + ", ".join(f"{r:.2f}" for r in per_round) + " | | |")
    print(
        f"\nwebhook/bare throughput ratio: {ratio:.2f} (target ≥ 0.5); "
        f"webhook p99 {pooled['webhook'].pct(0.99):.0f} ms (target well under 1000)"
    )
    filed = sum(r.ok for r in results["webhook"]) + len(warm)
    answered = filed + sum(r.ok for r in results["webhook (帮助)"])
    print(
        f"webhook 200s: {answered} (incl. {len(warm)} warm-up); inbound rows {inbound}: {handled} handled, "
        f"{queued} still queued for the worker; appeals {appeals} from {filed} appeal texts"
    )
    print(
        f"relay: {drained.backlog} stored messages handed to RQ in {drained.relay_seconds:.1f} s "
        f"({drained.backlog / drained.relay_seconds:,.0f} messages/s, incl. the scheduler's start-up)"
    )
    print(
        f"worker drain: {drained.handled} queued messages handled in {drained.seconds:.0f} s "
        f"({drained.handled / drained.seconds if drained.seconds else 0:.1f} messages/s incl. their notification jobs)"
    )


# The stock `hongguan worker` and `hongguan scheduler` (cron + the inbound relay): create_app() warms jieba and
# the classifier first.
WORKER_MAIN = "from cli import main\nmain(['worker'])\n"
SCHEDULER_MAIN = "from cli import main\nmain(['scheduler'])\n"


@dataclass
class Drained:
    """What the deferred half did after the timed rounds."""

    backlog: int = 0  # stored messages not yet handed to RQ when the drain started
    relay_seconds: float = float("nan")  # until the relay had handed all of them to RQ
    handled: int = 0  # messages the worker handled
    seconds: float = 0.0


def drain_queue(env: dict[str, str], log: Path, seconds: float, db_url: str) -> Drained:
    """Run `hongguan scheduler` (relay) and `hongguan worker` for `seconds`; report what they did."""
    from sqlalchemy import func, select

    import models
    from infra.db import make_engine

    inbound = models.InboundMessage
    engine = make_engine(db_url)

    def count(*where: Any) -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(inbound).where(*where)).scalar_one()

    def unrelayed() -> int:
        return count(inbound.status == "queued", inbound.enqueued_at.is_(None))

    out = Drained(backlog=unrelayed())
    if seconds <= 0:
        engine.dispose()
        return out
    before = count(inbound.status == "handled")
    started = time.monotonic()
    procs = []
    with open(log, "ab") as sink:
        for main_code in (SCHEDULER_MAIN, WORKER_MAIN):
            procs.append(
                subprocess.Popen([sys.executable, "-c", main_code], cwd=REPO, env=env, stdout=sink, stderr=sink)
            )
        try:
            deadline = started + seconds
            while time.monotonic() < deadline:
                if out.relay_seconds != out.relay_seconds and unrelayed() == 0:  # NaN: not yet done
                    out.relay_seconds = time.monotonic() - started
                time.sleep(0.25)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGINT)  # warm shutdown: the current job finishes
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
    out.seconds = time.monotonic() - started
    out.handled = count(inbound.status == "handled") - before
    engine.dispose()
    return out


if __name__ == "__main__":
    main()
