"""Mobilisation: a call-up to 10,000 volunteers through the WeChat sandbox with its send limits, and a sign-up
burst on PostgreSQL.

Send: a SQLite database with the demo community and N volunteers — 60 % official-account followers outside the
48 h window (template message), 20 % inside it (customer-service message), 20 % mini-program users holding a
subscribe grant (subscribe message). The sandbox runs in its own process with WeChat's limits switched on: a
per-minute cap on template sends (45011 above it), the customer-service budget per user (45047) and daily caps.
`services.volunteering.send.start_send` freezes the audience; one in-process RQ worker (with RQ's scheduler, so
the retries of refused sends run after their backoff) works until every person's delivery row says `sent`.
Reported: time to reach everyone, messages/s, duplicates in the sandbox's record (must be 0), sends refused by
a limit and retried.

Sign-up burst: a PostgreSQL cluster, PLACES places over 10 shifts and 10 % more people than places, 32 threads
signing up at once; reported: sign-ups/s, p50/p99 latency, confirmed == places, no shift over its quota.

Run: .venv/bin/python bench/mobilisation.py [--people 10000] [--template-per-minute 5000] [--places 2000]
     [--only send|signup]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402

TEMPLATE = "/cgi-bin/message/template/send"
CUSTOM = "/cgi-bin/message/custom/send"
MINI = "/cgi-bin/message/subscribe/send"
MINI_TEMPLATE = "tpl-mini-notice"


def send_bench(people: int, template_per_minute: int) -> dict[str, Any]:
    """Send one call-up to `people` volunteers through the rate-limited sandbox; return the figures."""
    import models
    from infra import clock
    from infra.db import make_engine
    from infra.embedded import EmbeddedRedis, free_port
    from infra.web import get_db, get_redis
    from jobs.queue import QUEUES, get_queue
    from jobs.worker import HongguanSimpleWorker
    from models import OutboundMessage, Resident, SubscribeGrant
    from services.demo import seed_org
    from services.volunteering import callups, send
    from wechat import sandbox as sb
    from wsgi import create_app

    tmp = Path(tempfile.mkdtemp(prefix="bench-mobilise-"))
    redis = EmbeddedRedis(tmp / "redis", persist=False).start()
    port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-c", f"from wechat.sandbox import serve; serve('127.0.0.1', {port})"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(base + "/sandbox/stats", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    requests.post(base + "/sandbox/limits", json={
        "per_minute": {TEMPLATE: template_per_minute}, "per_day": {TEMPLATE: 100_000, CUSTOM: 500_000},
        "cs_per_user": 5,
    }, timeout=5)  # fmt: skip
    db = tmp / "h.db"
    engine = make_engine(f"sqlite:///{db}")
    models.Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app({
        "ENV": "development", "INSTANCE_PATH": str(tmp / "instance"), "DATABASE_URL": f"sqlite:///{db}",
        "REDIS_URL": redis.url, "WECHAT_API_BASE": base, "WECHAT_APPID": sb.DEFAULT_APPID,
        "WECHAT_SECRET": sb.DEFAULT_SECRET, "MINIAPP_APPID": sb.DEFAULT_MINIAPP_APPID,
        "MINIAPP_SECRET": sb.DEFAULT_MINIAPP_SECRET, "WECHAT_TOKEN": "bench", "WECHAT_ACCOUNT_ID": "gh_bench",
        "WECHAT_TEMPLATE_NOTICE": "tpl-notice", "MINIAPP_TEMPLATE_NOTICE": MINI_TEMPLATE,
    })  # fmt: skip
    try:
        now = clock.now()
        with get_db(app).transaction() as s:
            org = seed_org(s)
            rows = []
            for i in range(people):
                kind = i % 5  # 0-2 template, 3 customer service, 4 mini-program subscribe
                rows.append({
                    "name": f"志愿者{i}", "is_volunteer": True, "community_id": org.community.id,
                    "grid_id": org.grids["G1"].id, "openid": f"o-mob-{i:06d}" if kind < 4 else None,
                    "subscribed": kind < 4, "miniapp_openid": f"om-mob-{i:06d}" if kind == 4 else None,
                    "last_inbound_at": now - timedelta(hours=1) if kind == 3 else None,
                })  # fmt: skip
            s.execute(sa.insert(Resident), rows)
            s.execute(sa.insert(SubscribeGrant), [
                {"openid": f"om-mob-{i:06d}", "template_id": MINI_TEMPLATE, "remaining": 1, "granted_total": 1,
                 "used_total": 0} for i in range(people) if i % 5 == 4
            ])  # fmt: skip
            start = now + timedelta(days=2)
            c = callups.create_callup(
                s, org.staff["community_staff"].id, community_id=org.community.id, title="万人志愿动员",
                shifts=[callups.ShiftSpec(f"点位{k}", start, start + timedelta(hours=3), 500) for k in range(20)],
                audience={"volunteers": True}, signup_closes_at=start,
            )  # fmt: skip
            callup_id = c.id
        t0 = time.perf_counter()
        with app.app_context():
            s = get_db(app).session()
            recipients = send.start_send(s, callup_id, org.staff["community_staff"].id)
            s.commit()
            s.close()
            from jobs.callups import send_callup

            send_callup(callup_id)  # what the enqueued job does: hand everyone to the outbox
            handed = time.perf_counter() - t0
            queues = [get_queue(q) for q in QUEUES]
        worker = HongguanSimpleWorker(queues, connection=get_redis(app), app=app)
        check = make_engine(f"sqlite:///{db}")

        def sent_rows() -> int:
            with check.connect() as conn:
                return int(conn.execute(
                    sa.select(sa.func.count()).select_from(OutboundMessage).where(
                        OutboundMessage.related_type == "callup", OutboundMessage.status == "sent"
                    )
                ).scalar() or 0)  # fmt: skip

        deadline = time.monotonic() + 1800
        while sent_rows() < recipients and time.monotonic() < deadline:
            worker.work(burst=True, with_scheduler=True)  # the scheduler moves due retries back to their queue
            time.sleep(0.5)
        elapsed = time.perf_counter() - t0
        records = requests.get(base + "/sandbox/sent", timeout=30).json()
        stats = requests.get(base + "/sandbox/stats", timeout=5).json()
        per_person = Counter(r["touser"] for r in records)
        kinds = Counter(r["kind"] for r in records)
        with check.connect() as conn:
            retried = int(conn.execute(sa.select(sa.func.count()).select_from(OutboundMessage).where(
                OutboundMessage.related_type == "callup", OutboundMessage.idempotency_key.is_(None)
            )).scalar() or 0)  # fmt: skip
        check.dispose()
        return {
            "people": people, "recipients": recipients, "reached": len(per_person), "sent_rows": sent_rows(),
            "duplicates": sum(n - 1 for n in per_person.values() if n > 1), "seconds": elapsed,
            "handover_s": handed, "rate": len(records) / elapsed, "limited": stats.get("limited", 0),
            "retried": retried, "kinds": dict(kinds),
        }  # fmt: skip
    finally:
        get_db(app).dispose()
        sandbox.terminate()
        redis.stop()


def signup_bench(places: int, threads: int = 32) -> dict[str, Any]:
    """PLACES places over 10 shifts, 10 % more people, `threads` at once, on PostgreSQL."""
    import models
    from infra import clock
    from infra.db import Database, make_engine
    from infra.embedded import EmbeddedPostgres
    from models import Resident, ShiftSignup
    from models.callup import CallupShift
    from services.demo import seed_org
    from services.errors import Conflict
    from services.volunteering import callups

    server = EmbeddedPostgres().start()
    try:
        engine = make_engine(server.url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS btree_gist"))  # the booking tables need it
        models.Base.metadata.create_all(engine)
        engine.dispose()
        db = Database(server.url)
        shifts = 10
        people = places + places // 10
        with db.transaction() as s:
            org = seed_org(s)
            start = clock.now() + timedelta(days=1)
            c = callups.create_callup(
                s, org.staff["community_staff"].id, community_id=org.community.id, title="报名压测",
                shifts=[callups.ShiftSpec(f"点位{k}", start, start + timedelta(hours=2), places // shifts)
                        for k in range(shifts)],
                audience={"volunteers": True}, signup_closes_at=start, waitlist_capacity=0,
            )  # fmt: skip
            s.execute(sa.insert(Resident), [
                {"name": f"v{i}", "community_id": org.community.id, "grid_id": org.grids["G1"].id, "is_volunteer": True}
                for i in range(people)
            ])  # fmt: skip
            shift_ids = [sh.id for sh in callups.shifts_of(s, c.id)]
            ids = list(s.scalars(sa.select(Resident.id).where(Resident.is_volunteer.is_(True)).order_by(Resident.id)))
        latencies: list[float] = []
        lock = threading.Lock()
        barrier = threading.Barrier(threads)

        def one(i: int) -> str:
            if i < threads:
                barrier.wait()
            s = db.session()
            t = time.perf_counter()
            try:
                status = callups.sign_up(s, shift_ids[i % shifts], ids[i]).status
                s.commit()
            except Conflict as e:
                s.rollback()
                status = e.code or "conflict"
            finally:
                s.close()
            with lock:
                latencies.append(time.perf_counter() - t)
            return status

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            outcomes = Counter(pool.map(one, range(people)))
        elapsed = time.perf_counter() - t0
        with db.transaction() as s:
            over = s.scalar(
                sa.select(sa.func.count()).select_from(CallupShift).where(CallupShift.taken > CallupShift.quota)
            )
            confirmed = s.scalar(
                sa.select(sa.func.count()).select_from(ShiftSignup).where(ShiftSignup.status == "confirmed")
            )
        db.dispose()
        latencies.sort()
        return {
            "places": places, "attempts": people, "threads": threads, "confirmed": confirmed,
            "full": outcomes.get("shift_full", 0), "over_quota_shifts": over, "seconds": elapsed,
            "rate": people / elapsed, "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        }  # fmt: skip
    finally:
        server.stop()


def main() -> None:
    """Run the send and the sign-up burst; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--template-per-minute", type=int, default=5_000)
    parser.add_argument("--places", type=int, default=2_000)
    parser.add_argument("--only", choices=("send", "signup"))
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # RQ logs every refused (and retried) 45011 send with its traceback
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    if args.only != "signup":
        r = send_bench(args.people, args.template_per_minute)
        print(
            f"Call-up to {r['people']} volunteers, sandbox in its own process, template cap "
            f"{args.template_per_minute}/min, customer-service budget 5/user (SQLite, one in-process worker)\n"
        )
        print(
            "| recipients | reached | duplicates | sent rows | hand-over s | time to reach everyone s | msgs/s "
            "| refused by a limit | retried calls | by channel |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        print(f"| {r['recipients']} | {r['reached']} | {r['duplicates']} | {r['sent_rows']} | {r['handover_s']:.1f} | "
              f"{r['seconds']:.1f} | {r['rate']:.1f} | {r['limited']} | {r['retried']} | "
              f"{', '.join(f'{k} {v}' for k, v in sorted(r['kinds'].items()))} |\n")  # fmt: skip
    if args.only != "send":
        r = signup_bench(args.places)
        print(
            f"Sign-up burst on PostgreSQL: {r['attempts']} people for {r['places']} places over 10 shifts, "
            f"{r['threads']} threads\n"
        )
        print("| attempts | confirmed | refused (full) | shifts over quota | seconds | sign-ups/s | p50 ms | p99 ms |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {r['attempts']} | {r['confirmed']} | {r['full']} | {r['over_quota_shifts']} | {r['seconds']:.2f} | "
              f"{r['rate']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
