"""The whole pipeline under load on PostgreSQL and Redis: signed, encrypted pushes at fixed rates, end to end.

Starts, on loopback: a throwaway PostgreSQL (initdb, as tests/conftest.py does; the schema and the demo
community), a Redis with its append-only file, the WeChat sandbox in a process of its own, `--scale` gunicorn
web instances (`-c python:infra.gunicorn_config`, one process of 16 threads each), one `hongguan scheduler`
(cron and the inbound relay) and `--scale` `hongguan worker` processes. Then, per rate, a generator sends
signed, AES-encrypted text pushes (a new resident each, as WeChat sends them: a push not answered 200 within
5 s is sent again, up to three times) at a fixed rate for `--duration` seconds, and waits for the backlog to
drain. The path measured: webhook → store → relay → worker (classify, route, dispatch, deadlines) →
customer-service answer to the resident and template push to the handler, both recorded by the sandbox.

Per rate it prints: pushes sent / stored / handled / answered / lost / doubled, sustained messages/s, latency
from the push to the resident's answer and to the handler's push (p50, p95, p99; sandbox clock = this
machine's), CPU ms per message of each stage (web, scheduler/relay, workers, PostgreSQL, Redis, sandbox, the
generator itself), the backlog over time, and whether it grew without bound. `--faults` adds one run at the
first rate with each fault once (PostgreSQL restarted, Redis restarted, a worker SIGKILLed and restarted
after 1 s as systemd would, the sandbox answering 503 for 30 s) and the time each took to recover.

The machine is shared: the load average is printed beside every figure. PostgreSQL runs as tests run it
(fsync off, synchronous_commit off): the figures are the application's cost, not a disk's.

Run: .venv/bin/python bench/pipeline.py [--rates 25,50,100] [--duration 30] [--drain 120] [--scale 1]
     [--faults [postgres,redis,worker,sandbox]] [--settle 420]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import secrets
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TOKEN = "pipeline-token"
ACCOUNT = "gh_pipeline"
TEXTS = ("楼道的灯坏了好几天", "小区门口垃圾没人清理", "楼下烧烤店每天半夜很吵", "电梯又坏了停在8楼", "路灯不亮了",
         "有人在绿化带停车", "下水道堵了污水漫出来", "楼上漏水把我家天花板泡了")  # fmt: skip
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f}/{five:.2f}"


def _cpu(pid: int | None, children: bool = True) -> float:
    """utime+stime of a process (and its direct children) in seconds, from /proc."""
    if pid is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    if children:
        with contextlib.suppress(OSError):
            pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0.0
    for p in pids:
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _postgres_cpu(pg_dir: Path) -> float:
    """CPU seconds of the postmaster and its backends (ended backends are counted in the postmaster's cutime)."""
    try:
        pid = int((pg_dir / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    total = _cpu(pid)
    with contextlib.suppress(OSError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[13]) + int(fields[14])) / tick  # cutime, cstime: backends that have exited
    return total


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


class Stack:
    """PostgreSQL, Redis, the sandbox, web instances, the scheduler and workers, all on loopback."""

    def __init__(self, scale: int, settings: dict[str, str] | None = None) -> None:
        from infra.embedded import EmbeddedPostgres, EmbeddedRedis, free_port

        self.tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
        self.scale = scale
        self.pg = EmbeddedPostgres().start()
        self.redis = EmbeddedRedis(self.tmp / "redis").start()
        self.sandbox_port = free_port()
        self.sandbox = subprocess.Popen(
            [sys.executable, "-c", f"from wechat.sandbox import serve; serve('127.0.0.1', {self.sandbox_port})"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        self.aes_key = "".join(secrets.choice(alphabet) for _ in range(43))
        from wechat import sandbox as sb

        self.appid = sb.DEFAULT_APPID
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HONGGUAN_")},
            "HONGGUAN_ENV": "development", "HONGGUAN_INSTANCE_PATH": str(self.tmp / "instance"),
            "HONGGUAN_DATABASE_URL": self.pg.url, "HONGGUAN_REDIS_URL": self.redis.url,
            "HONGGUAN_WECHAT_API_BASE": f"http://127.0.0.1:{self.sandbox_port}",
            "HONGGUAN_WECHAT_APPID": sb.DEFAULT_APPID, "HONGGUAN_WECHAT_SECRET": sb.DEFAULT_SECRET,
            "HONGGUAN_MINIAPP_APPID": sb.DEFAULT_MINIAPP_APPID, "HONGGUAN_MINIAPP_SECRET": sb.DEFAULT_MINIAPP_SECRET,
            "HONGGUAN_WECHAT_TOKEN": TOKEN, "HONGGUAN_WECHAT_AES_KEY": self.aes_key,
            "HONGGUAN_WECHAT_ACCOUNT_ID": ACCOUNT,
            **{f"HONGGUAN_{k}": v for k, v in (settings or {}).items()},
        }  # fmt: skip
        self._schema()
        self.web_ports = [free_port() for _ in range(scale)]
        self.webs = [self._start_web(port) for port in self.web_ports]
        self.scheduler = self._start(["scheduler"], "scheduler")
        self.workers = [self._start(["worker"], f"worker{i}") for i in range(scale)]
        for port in self.web_ports:
            _wait_http(port)
        _wait_http(self.sandbox_port)

    def _schema(self) -> None:
        import sqlalchemy as sa

        import models
        from infra.db import make_engine
        from infra.web import get_db
        from services.demo import seed_all
        from wsgi import create_app

        engine = make_engine(self.pg.url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS btree_gist"))
        models.Base.metadata.create_all(engine)
        engine.dispose()
        config = {k.removeprefix("HONGGUAN_"): v for k, v in self.env.items() if k.startswith("HONGGUAN_")}
        app = create_app(config)
        with app.app_context(), get_db(app).transaction() as session:
            seed_all(session)
        get_db(app).dispose()

    def _start_web(self, port: int) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "gunicorn", "-c", "python:infra.gunicorn_config", "--bind", f"127.0.0.1:{port}",
                "--workers", "1", "--error-logfile", str(self.tmp / f"web{port}.log"), "wsgi:create_app()"]  # fmt: skip
        return subprocess.Popen(args, cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _start(self, command: list[str], name: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the child's lifetime
        return subprocess.Popen([sys.executable, "-m", "cli", *command], cwd=REPO, env=self.env, stdout=log,
                                stderr=log, start_new_session=True)  # fmt: skip

    def kill_worker(self, i: int = 0) -> None:
        """SIGKILL a worker (and anything it forked), then start it again after 1 s, as systemd's Restart= does."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait(10)
        time.sleep(1)
        self.workers[i] = self._start(["worker"], f"worker{i}")

    def restart_postgres(self) -> None:
        """Restart PostgreSQL with `pg_ctl restart -m immediate` (every connection is cut)."""
        from infra.embedded import _pg_bin

        assert self.pg.base_dir is not None
        self.pg._run([_pg_bin("pg_ctl"), "-D", str(self.pg.base_dir / "data"), "-m", "immediate", "-w", "restart"])

    def restart_redis(self) -> None:
        """Stop Redis and start it again on the same port and data directory (its append-only file)."""
        self.redis.stop()
        self.redis.start()

    def sandbox_call(self, method: str, path: str, body: Any = None) -> Any:
        """Call the sandbox's own control API."""
        conn = http.client.HTTPConnection("127.0.0.1", self.sandbox_port, timeout=60)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body),
                         headers={"Content-Type": "application/json"})  # fmt: skip
            return json.loads(conn.getresponse().read() or b"null")
        finally:
            conn.close()

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each stage."""
        assert self.pg.base_dir is not None
        return {
            "web": sum(_cpu(w.pid) for w in self.webs), "relay": _cpu(self.scheduler.pid),
            "workers": sum(_cpu(w.pid) for w in self.workers), "postgres": _postgres_cpu(self.pg.base_dir),
            "redis": _cpu(self.redis.pid, children=False), "sandbox": _cpu(self.sandbox.pid, children=False),
            "generator": _cpu(os.getpid(), children=False),
        }  # fmt: skip

    def stop(self) -> None:
        """Stop everything (warm shutdown for the workers and the scheduler)."""
        for proc in [*self.workers, self.scheduler, *self.webs]:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.workers, self.scheduler, *self.webs, self.sandbox]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.sandbox.kill()
        self.redis.stop()
        self.pg.stop()


def _wait_http(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answers on port {port}")


@dataclass
class Push:
    """One resident's push and what became of it."""

    openid: str
    due: float
    sent_at: float = 0.0  # first attempt
    status: int = 0  # the last answer's HTTP status (0: none)
    tries: int = 0


@dataclass
class Run:
    """The pushes of one rate and the samples taken while it ran."""

    rate: float
    duration: float
    pushes: list[Push] = field(default_factory=list)
    depth: list[tuple[float, int, int]] = field(default_factory=list)  # (t, stored not handled, RQ jobs queued)
    events: list[tuple[float, str]] = field(default_factory=list)
    started: float = 0.0


def generate(stack: Stack, run: Run, tag: str, threads: int = 16) -> None:
    """Send run.rate pushes a second for run.duration seconds, each retried as WeChat does."""
    from wechat.chat import FakeWeChat

    n = int(run.rate * run.duration)
    run.started = time.time() + 0.5
    run.pushes = [Push(f"oPipe{tag}{i:08d}", run.started + i / run.rate) for i in range(n)]
    lock = threading.Lock()
    cursor = iter(range(n))

    def worker(k: int) -> None:
        conns: dict[int, http.client.HTTPConnection] = {}
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                break
            push = run.pushes[i]
            fake = FakeWeChat(TOKEN, stack.aes_key, stack.appid, push.openid, account_id=ACCOUNT)
            fields = fake.command(f"{TEXTS[i % len(TEXTS)]}（{tag}-{i}）")
            params, body = fake.push(fields)
            port = stack.web_ports[i % len(stack.web_ports)]
            delay = push.due - time.time()
            if delay > 0:
                time.sleep(delay)
            push.sent_at = time.time()
            for attempt in range(4):  # WeChat: the first try and three retries, 5 s apart
                push.tries = attempt + 1
                try:
                    conn = conns.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conns[port] = conn
                    conn.request("POST", f"/wechat?{urlencode(params)}", body=body,
                                 headers={"Content-Type": "text/xml"})  # fmt: skip
                    resp = conn.getresponse()
                    resp.read()
                    push.status = resp.status
                    if resp.getheader("Connection", "").lower() == "close":
                        conns.pop(port).close()
                    if resp.status == 200:
                        break
                except (OSError, http.client.HTTPException):
                    push.status = 0
                    with contextlib.suppress(Exception):
                        conns.pop(port).close()
                time.sleep(1 if attempt == 0 else 5)

    FakeWeChat(TOKEN, stack.aes_key, stack.appid, "oPipeCheck", account_id=ACCOUNT)  # a bad key fails here
    pool = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


class Sampler:
    """Samples the backlog once a second: messages stored but not handled, and RQ's queued jobs."""

    def __init__(self, stack: Stack, run: Run) -> None:
        self.stack, self.run = stack, run
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psycopg
        from redis import Redis

        dsn = self.stack.pg.url.replace("postgresql+psycopg", "postgresql")
        conn = None
        while not self.stop.is_set():
            backlog = jobs = -1
            try:
                if conn is None:
                    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=2)
                backlog = conn.execute(
                    "select count(*) from inbound_message where status <> 'handled' and openid like 'oPipe%%'"
                ).fetchone()[0]
            except psycopg.Error:
                conn = None
            with contextlib.suppress(Exception):
                r = Redis.from_url(self.stack.redis.url, socket_timeout=1, socket_connect_timeout=1)
                jobs = sum(int(r.llen(f"rq:queue:{q}")) for q in ("urgent", "default", "low"))
                r.close()
            self.run.depth.append((time.time() - self.run.started, backlog, jobs))
            self.stop.wait(1.0)
        if conn is not None:
            conn.close()

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(5)


def wait_drained(stack: Stack, run: Run, tag: str, timeout: float) -> float:
    """Wait until every stored push of this run is handled; returns the seconds waited."""
    import psycopg

    dsn = stack.pg.url.replace("postgresql+psycopg", "postgresql")
    started = time.time()
    while time.time() - started < timeout:
        with contextlib.suppress(psycopg.Error), psycopg.connect(dsn, autocommit=True) as conn:
            left = conn.execute(
                "select count(*) from inbound_message where status <> 'handled' and openid like %s",
                (f"oPipe{tag}%",),
            ).fetchone()[0]
            if left == 0:
                return time.time() - started
        time.sleep(0.5)
    return time.time() - started


def wait_answered(stack: Stack, run: Run, tag: str, timeout: float) -> float:
    """Wait until every accepted push has its answer recorded by the sandbox (answers that failed wait for RQ's
    retry backoff, 10 s then 60 s); returns the seconds from the first push until the last answer, or NaN."""
    want = {p.openid for p in run.pushes if p.status == 200}
    started = time.time()
    while time.time() - started < timeout:
        sent = stack.sandbox_call("GET", "/sandbox/sent")
        got = {s["touser"]: s["at"] for s in sent if s["kind"] == "custom" and s["touser"] in want}
        if len(got) >= len(want):
            return max(got.values()) - run.started
        time.sleep(5)
    return float("nan")


def tally(stack: Stack, run: Run, tag: str) -> dict[str, Any]:
    """Count and time what became of the run's pushes, from PostgreSQL and the sandbox's records."""
    import psycopg

    dsn = stack.pg.url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select m.openid, m.status, count(a.id), min(a.number) from inbound_message m "
            "left join appeal a on a.inbound_message_id = m.id where m.openid like %s group by m.id",
            (f"oPipe{tag}%",),
        ).fetchall()
    stored = {r[0]: r for r in rows}
    stored_per_openid: dict[str, int] = {}
    for r in rows:
        stored_per_openid[r[0]] = stored_per_openid.get(r[0], 0) + 1
    sent = stack.sandbox_call("GET", "/sandbox/sent")
    answers: dict[str, list[float]] = {}
    for s in sent:
        if s["kind"] == "custom" and str(s["touser"]).startswith(f"oPipe{tag}"):
            answers.setdefault(s["touser"], []).append(s["at"])
    number_re = re.compile(r"HG\d{13}")
    staff_at: dict[str, float] = {}
    for s in sent:
        if s["kind"] != "custom":
            for number in number_re.findall(json.dumps(s["body"], ensure_ascii=False)):
                staff_at.setdefault(number, s["at"])
    by_openid = {p.openid: p for p in run.pushes}
    accepted = [p for p in run.pushes if p.status == 200]
    reply = [min(answers[o]) - by_openid[o].sent_at for o in answers if o in by_openid]
    handler = [staff_at[r[3]] - by_openid[o].sent_at for o, r in stored.items() if r[3] in staff_at and o in by_openid]
    handled = sum(1 for r in rows if r[1] == "handled")
    lost = sum(1 for p in accepted if p.openid not in stored)  # answered 200 by the webhook, never stored
    left = sum(1 for r in rows if r[1] != "handled")  # stored, not yet handled when the drain ended
    doubled = (
        sum(1 for n in stored_per_openid.values() if n > 1)
        + sum(1 for a in answers.values() if len(a) > 1)
        + sum(1 for r in rows if r[2] > 1)
    )
    window = run.pushes[-1].sent_at - run.pushes[0].sent_at if len(run.pushes) > 1 else 1.0
    done_at = max((min(a) for a in answers.values()), default=run.started) - run.started
    return {
        "sent": len(run.pushes), "accepted": len(accepted), "retried": sum(1 for p in run.pushes if p.tries > 1),
        "stored": len(rows), "handled": handled, "answered": len(answers), "lost": lost, "left": left,
        "doubled": doubled,
        "offered": len(run.pushes) / max(window, 1e-9), "sustained": len(answers) / max(done_at, 1e-9),
        "reply": reply, "handler": handler, "answer_at": {o: min(a) for o, a in answers.items()},
        "appeals": sum(1 for r in rows if r[2]),
    }  # fmt: skip


def grows(run: Run) -> bool:
    """True when the backlog was still growing at the end of the sending window (latency without bound)."""
    inside = [(t, b) for t, b, _ in run.depth if 0 <= t <= run.duration and b >= 0]
    if len(inside) < 6:
        return False
    third = len(inside) // 3
    early = statistics.mean(b for _, b in inside[third : 2 * third])
    late = statistics.mean(b for _, b in inside[2 * third :])
    return late > max(early * 1.3, run.rate * 2)


def measure(
    stack: Stack, rate: float, duration: float, drain: float, tag: str, during: Any = None, settle: float = 0.0
) -> dict:
    """One run at `rate`: send, sample, drain, tally; `during(run)` is called in a thread (the faults)."""
    run = Run(rate, duration)
    cpu0 = stack.cpu()
    load0 = _load()
    with Sampler(stack, run):
        side = threading.Thread(target=during, args=(run,), daemon=True) if during else None
        if side:
            side.start()
        generate(stack, run, tag)
        if side:
            side.join()
        drained = wait_drained(stack, run, tag, drain)
        last_answer = wait_answered(stack, run, tag, settle) if settle else float("nan")
    cpu1 = stack.cpu()
    out = tally(stack, run, tag)
    out.update(
        rate=rate, run=run, drained=drained, last_answer=last_answer, grows=grows(run), load=f"{load0} → {_load()}"
    )
    out["cpu_ms"] = {k: 1000 * (cpu1[k] - cpu0[k]) / max(out["handled"], 1) for k in cpu0}
    return out


def print_rates(results: list[dict], scale: int) -> None:
    """The per-rate table, the CPU split and the backlog series."""
    print(f"\n### Pipeline on PostgreSQL + Redis, {scale} web instance(s) + {scale} worker(s), {os.cpu_count()} cores")
    print("| offered msg/s | sent | stored | handled | answered | lost | unhandled at the end | doubled "
          "| sustained msg/s | resident answer p50 / p95 / p99 s | handler push p50 / p95 / p99 s "
          "| backlog grows | load 1/5 min |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|")
    for r in results:
        rep, han = r["reply"], r["handler"]
        print(f"| {r['offered']:.1f} | {r['sent']} | {r['stored']} | {r['handled']} | {r['answered']} | {r['lost']} "
              f"| {r['left']} | {r['doubled']} | {r['sustained']:.1f} | {_pct(rep, 50):.2f} / {_pct(rep, 95):.2f} / "
              f"{_pct(rep, 99):.2f} | {_pct(han, 50):.2f} / {_pct(han, 95):.2f} / {_pct(han, 99):.2f} "
              f"({len(han)}) | {'yes' if r['grows'] else 'no'} | {r['load']} |")  # fmt: skip
    print("\nCPU ms per handled message, by stage")
    stages = list(results[0]["cpu_ms"])
    print("| offered msg/s | " + " | ".join(stages) + " | total |")
    print("|---:|" + "---:|" * (len(stages) + 1))
    for r in results:
        c = r["cpu_ms"]
        print(f"| {r['offered']:.1f} | " + " | ".join(f"{c[s]:.1f}" for s in stages) + f" | {sum(c.values()):.1f} |")
    print("\nBacklog (stored, not yet handled / RQ jobs waiting), every 5 s from the first push")
    for r in results:
        series = " ".join(f"{b}/{j}" for t, b, j in r["run"].depth[::5])
        print(f"- {r['offered']:.0f} msg/s: {series}")


FAULTS = ("postgres restarted", "redis restarted", "worker SIGKILLed", "sandbox 503 for 30 s")


def inject(stack: Stack, fault: str, at: float, hold: float = 30.0) -> Any:
    """A `during` callback that applies `fault` `at` seconds into the run and records when it ended."""

    def during(run: Run) -> None:
        time.sleep(max(0.0, run.started + at - time.time()))
        run.events.append((time.time() - run.started, "start"))
        if fault.startswith("postgres"):
            stack.restart_postgres()
        elif fault.startswith("redis"):
            stack.restart_redis()
        elif fault.startswith("worker"):
            stack.kill_worker(0)
        else:
            for path in (CUSTOM, TEMPLATE):
                stack.sandbox_call("POST", "/sandbox/fail", {"path": path, "status": 503, "times": None})
            time.sleep(hold)
            for path in (CUSTOM, TEMPLATE):  # a fault with neither status nor errcode passes one call and ends
                stack.sandbox_call("POST", "/sandbox/fail", {"path": path, "times": 1})
        run.events.append((time.time() - run.started, "end"))

    return during


def recovery(run: Run) -> float:
    """Seconds from the fault's end until the backlog was back under two seconds' worth of pushes."""
    ended = next((t for t, what in run.events if what == "end"), None)
    if ended is None:
        return float("nan")
    for t, backlog, _ in run.depth:
        if t >= ended and 0 <= backlog <= 2 * run.rate:
            return t - ended
    return float("inf")


def caught_up(result: dict[str, Any]) -> float:
    """Seconds from the fault's end until every push sent before it had its answer (NaN: some never did)."""
    run: Run = result["run"]
    ended = next((t for t, what in run.events if what == "end"), None)
    if ended is None:
        return float("nan")
    before = [p.openid for p in run.pushes if p.sent_at and p.sent_at - run.started <= ended]
    if any(o not in result["answer_at"] for o in before):
        return float("nan")
    return max((result["answer_at"][o] - run.started for o in before), default=ended) - ended


def main() -> None:
    """Run the rates (and the faults) and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="25,50,100", help="pushes per second, comma-separated")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending per rate")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for the backlog afterwards")
    parser.add_argument(
        "--faults",
        nargs="?",
        const="postgres,redis,worker,sandbox",
        default="",
        help="one run per fault at the first rate (default all: postgres,redis,worker,sandbox)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=420.0,
        help="seconds a fault run waits for every answer (failed sends wait for RQ's retries)",
    )
    parser.add_argument("--scale", type=int, default=1, help="web instances and workers (one scheduler)")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r]
    print(f"starting the stack (scale {args.scale}); load {_load()}", flush=True)
    stack = Stack(args.scale)
    try:
        results = []
        for k, rate in enumerate(rates):
            print(f"rate {rate:g}/s for {args.duration:g} s; load {_load()}", flush=True)
            results.append(measure(stack, rate, args.duration, args.drain, f"r{k}"))
        print_rates(results, args.scale)
        if args.faults:
            rate = rates[0]
            print(f"\n### Faults at {rate:g} pushes/s, {args.duration:g} s each, the fault {args.duration / 4:g} s in")
            print("| fault | sent | accepted 200 | retried by 'WeChat' | stored | handled | answered | lost "
                  "| unhandled at the end "
                  "| doubled | backlog recovered after s | earlier pushes all answered after s | resident answer p99 s "
                  "| load 1/5 min |")  # fmt: skip
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            chosen = [f for f in FAULTS if f.split()[0] in args.faults.split(",")]
            for k, fault in enumerate(chosen):
                print(f"fault: {fault}; load {_load()}", file=sys.stderr, flush=True)
                during = inject(stack, fault, args.duration / 4)
                r = measure(stack, rate, args.duration, args.drain, f"f{k}", during, settle=args.settle)
                print(f"| {fault} | {r['sent']} | {r['accepted']} | {r['retried']} | {r['stored']} | {r['handled']} "
                      f"| {r['answered']} | {r['lost']} | {r['left']} | {r['doubled']} | {recovery(r['run']):.1f} "
                      f"| {caught_up(r):.1f} "
                      f"| {_pct(r['reply'], 99):.2f} | {r['load']} |", flush=True)  # fmt: skip
    finally:
        stack.stop()
        print(f"\n(logs in {stack.tmp})")


if __name__ == "__main__":
    main()
