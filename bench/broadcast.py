"""One urgent notice to 50,000 residents, on PostgreSQL and Redis, through the product's own path, with a worker
SIGKILLed mid-way and the web measured while it runs.

The stack is bench/pipeline.py's (a throwaway PostgreSQL with the demo community, Redis with its append-only
file, the WeChat sandbox in its own process enforcing the documented daily send quotas, `--scale` gunicorn web
instances and `hongguan worker`s, one `hongguan scheduler`). Seeded: `--residents` residents of the demo
community (followers of the official account, 5 % of them inside the 48 h window; a fifth reachable only in the
mini-program, half of those with a subscribe grant for the notice template, known to the sandbox too). A staff
member publishes the notice through `POST /api/v1/notices` (urgent: pushed to everyone in scope), and the path
measured is notices → notifications (one outbox row per chunk of recipients) → RQ → worker → WeChat client →
sandbox. While it runs, signed and encrypted webhook pushes (free text from new residents, so appeals too) and
mini-program `GET /api/v1/notices` calls are sent at steady rates, and the answer times recorded (the same
rates for 10 s before the publication give the quiet baseline). At `--kill-at` of the recipients reached, a
worker is SIGKILLed and started again 1 s later, as systemd's Restart= does.

It prints: the publication request's time, the time until every chunk but the one the kill cut off was done and
until all were (the cut-off chunk waits for RQ's maintenance or the resume sweep, minutes later), sends a
second, the sandbox's record per openid (0 duplicates), the ledger's statuses, CPU ms per recipient by stage,
and the web's answer times (p50 / p95 / p99 / max) before and during the broadcast.

Run: .venv/bin/python bench/broadcast.py [--residents 50000] [--scale 1] [--kill-at 0.4] [--push-rate 10]
     [--get-rate 10] [--settle 1500]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pipeline as pl

MINI_TEMPLATE = "sandbox-tpl-mini-notice"
PREFIX = "oBcast"


def seed(stack: pl.Stack, app: Any, n: int) -> dict[str, Any]:
    """Insert the residents, their grants (in SQL and in the sandbox) and the two logins; returns who is who."""
    import sqlalchemy as sa

    from infra import clock
    from infra.web import get_db
    from models import Community, Resident, Staff, SubscribeGrant
    from services.organisation import auth

    now = clock.now()
    with app.app_context(), get_db(app).transaction() as s:
        community_id = s.scalar(sa.select(Community.id).order_by(Community.id))
        rows, grants, mini_granted = [], [], []
        for i in range(n):
            row: dict[str, Any] = {"community_id": community_id}
            if i % 5 == 4:  # only in the mini-program
                row["miniapp_openid"] = f"{PREFIX}M{i:07d}"
                if i % 10 == 9:
                    grants.append(row["miniapp_openid"])
            else:
                row |= {"openid": f"{PREFIX}F{i:07d}", "subscribed": True, "subscribed_at": now}
                if i % 20 == 0:  # wrote to us within the 48 h window: a customer-service message
                    row["last_inbound_at"] = now
            rows.append(row)
        for start in range(0, n, 5000):
            s.execute(sa.insert(Resident), rows[start : start + 5000])
        s.execute(
            sa.insert(SubscribeGrant),
            [{"openid": o, "template_id": MINI_TEMPLATE, "remaining": 1, "granted_total": 1, "used_total": 0,
              "created_at": now, "updated_at": now} for o in grants],
        )  # fmt: skip
        mini_granted = grants
        staff = s.get(Staff, s.scalar(sa.select(Staff.id).where(Staff.role == "community_secretary")))
        staff.unionid = "oBcastUnionStaff"
        publisher = Resident(miniapp_openid="oBcastPublisher", unionid=staff.unionid, community_id=community_id)
        reader = Resident(miniapp_openid="oBcastReader", community_id=community_id)
        s.add_all([publisher, reader])
        s.flush()
        staff_token, _ = auth.login(s, openid="oBcastPublisher", session_key="sk", unionid=staff.unionid, now=now)
        reader_token, _ = auth.login(s, openid="oBcastReader", session_key="sk", unionid=None, now=now)
    conn = http.client.HTTPConnection("127.0.0.1", stack.sandbox_port, timeout=30)
    for openid in mini_granted:  # the user accepted the subscribe pop-up: WeChat knows the grant too
        body = json.dumps({"openid": openid, "template_id": MINI_TEMPLATE})
        conn.request("POST", "/sandbox/grant", body=body, headers={"Content-Type": "application/json"})
        conn.getresponse().read()
    conn.close()
    followers = sum(1 for r in rows if "openid" in r)
    return {
        "staff": staff_token, "reader": reader_token, "followers": followers, "granted": len(mini_granted),
        "ungranted": n - followers - len(mini_granted), "in_window": sum(1 for r in rows if "last_inbound_at" in r),
    }  # fmt: skip


class Load:
    """Webhook pushes and mini-program GETs at steady rates, each answer timed, until stopped."""

    def __init__(self, stack: pl.Stack, reader_token: str, push_rate: float, get_rate: float) -> None:
        self.stack, self.token = stack, reader_token
        self.push_rate, self.get_rate = push_rate, get_rate
        self.samples: list[tuple[str, float, float, int]] = []  # (kind, started at, seconds, status)
        self.pushed: dict[str, float] = {}  # openid -> sent at
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._pushes, daemon=True),
                        threading.Thread(target=self._gets, daemon=True)]  # fmt: skip

    def _timed(self, kind: str, conn: http.client.HTTPConnection, method: str, url: str, **kw: Any) -> int:
        t0 = time.time()
        start = time.perf_counter()
        try:
            conn.request(method, url, **kw)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
        with self.lock:
            self.samples.append((kind, t0, time.perf_counter() - start, status))
        return status

    def _pace(self, rate: float, step: Any) -> None:
        k = 0
        began = time.time()
        while not self.stop.is_set():
            delay = began + k / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            step(k)
            k += 1

    def _pushes(self) -> None:
        from wechat.chat import FakeWeChat

        port = self.stack.web_ports[0]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

        def step(k: int) -> None:
            openid = f"oBcastPush{k:07d}"
            fake = FakeWeChat(pl.TOKEN, self.stack.aes_key, self.stack.appid, openid, account_id=pl.ACCOUNT)
            params, body = fake.push(fake.command(f"{pl.TEXTS[k % len(pl.TEXTS)]}（广播期间-{k}）"))
            self.pushed[openid] = time.time()
            self._timed("webhook", conn, "POST", f"/wechat?{urlencode(params)}", body=body,
                        headers={"Content-Type": "text/xml"})  # fmt: skip

        self._pace(self.push_rate, step)

    def _gets(self) -> None:
        port = self.stack.web_ports[-1]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Authorization": f"Bearer {self.token}"}
        self._pace(self.get_rate, lambda k: self._timed("miniapp GET", conn, "GET", "/api/v1/notices", headers=headers))

    def start(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def halt(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)


class Records:
    """The sandbox's send records, fetched incrementally (`/sandbox/sent?since=`)."""

    def __init__(self, stack: pl.Stack) -> None:
        self.stack = stack
        self.items: list[dict[str, Any]] = []
        self.last = 0
        self.broadcast = 0  # records to the seeded residents

    def poll(self) -> None:
        new = self.stack.sandbox_call("GET", f"/sandbox/sent?since={self.last}")
        for item in new:
            item.pop("body", None)
        self.items.extend(new)
        if new:
            self.last = max(i["id"] for i in new)
        self.broadcast += sum(1 for i in new if str(i["touser"]).startswith(f"{PREFIX}F")
                              or str(i["touser"]).startswith(f"{PREFIX}M"))  # fmt: skip


def chunks_left(stack: pl.Stack) -> int:
    """Broadcast chunks whose job has not said done."""
    import psycopg

    dsn = stack.pg.url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "select count(*) from pending_job where func = 'jobs.notifications.deliver_to_residents' "
            "and done_at is null"
        ).fetchone()[0]


def ledger(stack: pl.Stack, notice_id: int) -> dict[str, int]:
    """Keyed delivery rows of the notice by status and channel."""
    import psycopg

    dsn = stack.pg.url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select status, channel, count(*) from outbound_message where idempotency_key like %s group by 1, 2",
            (f"%:notice:{notice_id}",),
        ).fetchall()
    return {f"{status}/{channel}": count for status, channel, count in rows}


def claimed_sent(stack: pl.Stack, notice_id: int) -> set[str]:
    """Openids whose keyed delivery row of the notice says `sent`."""
    import psycopg

    dsn = stack.pg.url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select openid from outbound_message where status = 'sent' and idempotency_key like %s",
            (f"%:notice:{notice_id}",),
        ).fetchall()
    return {r[0] for r in rows}


def stats(values: list[float]) -> str:
    """p50 / p95 / p99 / max in milliseconds."""
    if not values:
        return "—"
    ms = [1000 * v for v in values]
    return f"{pl._pct(ms, 50):.1f} / {pl._pct(ms, 95):.1f} / {pl._pct(ms, 99):.1f} / {max(ms):.0f}"


def main() -> None:
    """Seed, publish, kill a worker mid-way, wait, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=50_000)
    parser.add_argument("--scale", type=int, default=1, help="web instances and workers (one scheduler)")
    parser.add_argument("--kill-at", type=float, default=0.4, help="fraction of recipients reached (0: no kill)")
    parser.add_argument("--push-rate", type=float, default=10.0, help="webhook pushes a second during the run")
    parser.add_argument("--get-rate", type=float, default=10.0, help="mini-program GETs a second during the run")
    parser.add_argument("--settle", type=float, default=1500.0, help="seconds to wait for the cut-off chunk")
    args = parser.parse_args()

    from wsgi import create_app

    print(f"starting the stack (scale {args.scale}); load {pl._load()}", flush=True)
    stack = pl.Stack(args.scale, settings={"MINIAPP_TEMPLATE_NOTICE": MINI_TEMPLATE})
    try:
        config = {k.removeprefix("HONGGUAN_"): v for k, v in stack.env.items() if k.startswith("HONGGUAN_")}
        app = create_app(config)
        t0 = time.time()
        who = seed(stack, app, args.residents)
        print(f"seeded {args.residents} residents in {time.time() - t0:.1f} s: {who | {'staff': '…', 'reader': '…'}}",
              flush=True)  # fmt: skip
        reachable = who["followers"] + who["granted"]
        records = Records(stack)
        load = Load(stack, who["reader"], args.push_rate, args.get_rate).start()
        time.sleep(10)  # the quiet baseline
        baseline_end = time.time()
        cpu0, load0 = stack.cpu(), pl._load()
        conn = http.client.HTTPConnection("127.0.0.1", stack.web_ports[0], timeout=300)
        body = json.dumps({"title": "燃气管道抢修", "body": "今晚 20:00 至次日 6:00 全小区停气，请关好阀门。",
                           "urgent": True}, ensure_ascii=False)  # fmt: skip
        published = time.time()
        conn.request("POST", "/api/v1/notices", body=body.encode(), headers={
            "Authorization": f"Bearer {who['staff']}", "Content-Type": "application/json",
            "Idempotency-Key": "bench-broadcast-1"})  # fmt: skip
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        publish_s = time.time() - published
        assert resp.status == 201, (resp.status, answer)
        import psycopg

        dsn = stack.pg.url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(dsn, autocommit=True) as c:
            notice_id = c.execute("select id from notice where public_id = %s", (answer["id"],)).fetchone()[0]
            chunks = c.execute(
                "select count(*) from pending_job where func = 'jobs.notifications.deliver_to_residents'"
            ).fetchone()[0]
        print(f"published in {publish_s:.2f} s: notice {notice_id}, {chunks} chunk job(s); load {pl._load()}",
              flush=True)  # fmt: skip
        killed_at = rest_done = all_done = None
        last_progress = time.time()
        seen = 0
        while True:
            time.sleep(1)
            with contextlib.suppress(OSError, ValueError):
                records.poll()
            now = time.time()
            if records.broadcast != seen:
                seen, last_progress = records.broadcast, now
            if args.kill_at and killed_at is None and records.broadcast >= args.kill_at * reachable:
                stack.kill_worker(0)
                killed_at = (time.time() - published, records.broadcast)
                print(f"worker 0 SIGKILLed at {killed_at[0]:.1f} s ({killed_at[1]} sent), restarted", flush=True)
            left = chunks_left(stack)
            if rest_done is None and left <= (1 if killed_at else 0):
                rest_done = (now - published, records.broadcast, max(i["at"] for i in records.items) - published)
                cpu1, load1 = stack.cpu(), pl._load()
                load.halt()
                print(f"all chunks but {left} done at {rest_done[0]:.1f} s; load {load1}", flush=True)
            if left == 0:
                all_done = now - published
                break
            if rest_done is not None and now - published > args.settle:
                break
            if rest_done is None and now - last_progress > 600:
                print("no progress for 10 minutes; giving up", flush=True)
                cpu1, load1 = stack.cpu(), pl._load()
                load.halt()
                break
        statuses = ledger(stack, notice_id)
        claimed = claimed_sent(stack, notice_id)
        records.poll()  # after the ledger was read: every send it claims has reached the sandbox by now
        per_openid = Counter(
            i["touser"] for i in records.items
            if str(i["touser"]).startswith((f"{PREFIX}F", f"{PREFIX}M"))
        )  # fmt: skip
        kinds = Counter(i["kind"] for i in records.items if str(i["touser"]).startswith((f"{PREFIX}F", f"{PREFIX}M")))
        duplicates = sum(1 for c in per_openid.values() if c > 1)
        recorded = {i["touser"] for i in records.items}  # the demo community's own residents are in scope too
        phantom = len(claimed - recorded)
        sends = [i["at"] for i in records.items if str(i["touser"]).startswith((f"{PREFIX}F", f"{PREFIX}M"))]
        first, last = min(sends), max(sends)
        rest_sent = rest_done[1] if rest_done else len(sends)
        rest_last = rest_done[2] if rest_done else last - published
        samples = load.samples
        answers = {i["touser"]: i["at"] for i in records.items if i["kind"] == "custom"
                   and str(i["touser"]).startswith("oBcastPush")}  # fmt: skip
        during_end = published + (rest_done[0] if rest_done else time.time() - published)

        print(f"\n### Broadcast of one urgent notice to {args.residents} residents ({args.scale} web + "
              f"{args.scale} worker(s), 2 cores shared), kill at {args.kill_at:g}")  # fmt: skip
        print("| publish request s | chunks | recipients reached | sends/s (first → last of the rest) "
              "| all but the cut-off chunk done s | all done s | duplicates (openids with > 1) | channels | "
              "load 1/5 min |")  # fmt: skip
        print("|---:|---:|---:|---:|---:|---:|---:|---|---|")
        span = max(rest_last - (first - published), 1e-9)
        print(f"| {publish_s:.2f} | {chunks} | {len(per_openid)} of {reachable} reachable | "
              f"{rest_sent / span:.0f} | {rest_done[0] if rest_done else float('nan'):.1f} | "
              f"{all_done if all_done is not None else float('nan'):.1f} | {duplicates} | "
              f"{dict(kinds)} | {load0} → {load1} |")  # fmt: skip
        if killed_at:
            print(f"\nworker SIGKILLed {killed_at[0]:.1f} s after the publication, {killed_at[1]} recipients reached")
        print(f"ledger (status/channel: rows): {statuses}; claimed sent but not recorded by the sandbox: {phantom}")
        print(f"seeded: {who['followers']} followers ({who['in_window']} in the window), {who['granted']} "
              f"mini-program only with a grant, {who['ungranted']} mini-program only without one")  # fmt: skip
        cpu_ms = {k: 1000 * (cpu1[k] - cpu0[k]) / max(rest_sent, 1) for k in cpu0}
        print("\nCPU ms per recipient reached, by stage (publication until all but the cut-off chunk were done)")
        print("| " + " | ".join(cpu_ms) + " | total |")
        print("|" + "---:|" * (len(cpu_ms) + 1))
        print("| " + " | ".join(f"{v:.2f}" for v in cpu_ms.values()) + f" | {sum(cpu_ms.values()):.2f} |")
        print("\nWeb answer times, ms p50 / p95 / p99 / max (non-200 answers)")
        print("| | before the publication (10 s) | during the broadcast |")
        print("|---|---|---|")
        for kind in ("webhook", "miniapp GET"):
            before = [d for k, t, d, _ in samples if k == kind and t < baseline_end]
            during = [d for k, t, d, _ in samples if k == kind and published <= t <= during_end]
            bad_b = sum(1 for k, t, _, st in samples if k == kind and t < baseline_end and st != 200)
            bad_d = sum(1 for k, t, _, st in samples if k == kind and published <= t <= during_end and st != 200)
            print(f"| {kind} ({len(before)} / {len(during)} requests) | {stats(before)} ({bad_b}) "
                  f"| {stats(during)} ({bad_d}) |")  # fmt: skip
        replies = [answers[o] - t for o, t in load.pushed.items() if o in answers and published <= t <= during_end]
        pushed_during = sum(1 for t in load.pushed.values() if published <= t <= during_end)
        print(f"\nresidents' own messages during the broadcast: {pushed_during} pushed, {len(replies)} answered; "
              f"answer p50 / p95 / p99 s: {pl._pct(replies, 50):.2f} / {pl._pct(replies, 95):.2f} / "
              f"{pl._pct(replies, 99):.2f}")  # fmt: skip
    finally:
        stack.stop()
        print(f"\n(logs in {stack.tmp})")


if __name__ == "__main__":
    main()
