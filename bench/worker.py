"""How many resident messages one RQ worker process turns into answered appeals per second.

Builds a SQLite database with the demo community, stores N free-text messages from 50 residents through the
real webhook (Flask test client, plaintext mode), relays them to RQ as the scheduler does, then lets one worker
drain the queues in burst mode: the forking worker (a work horse per job, `hongguan worker --fork`) and the
in-process worker that `hongguan worker` runs. The WeChat sandbox runs in a process of its own, like WeChat.
The rate is N over the time from the first job's start to the last job's end (RQ's own timestamps), so the
worker's start-up and teardown are left out; CPU is the worker process's (and its work horses') per message.

Run: .venv/bin/python bench/worker.py [--messages 300] [--modes fork,inprocess] [--database sqlite|postgres]
     [--residents 50] [--profile out.prof] [--count-sql]
(`--profile` runs the in-process drain under cProfile and prints the top functions by cumulative time.
`--count-sql` counts the SQL statements and commits the in-process drain sends to the database, per handled
message, by the innermost hongguan module that issued them: an SQLAlchemy event hook in this script only.)
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TEXTS = ("3栋楼道的灯坏了好几天", "小区门口垃圾没人清理", "楼下烧烤店每天半夜很吵", "电梯又坏了停在8楼", "路灯不亮了",
         "有人在绿化带停车")  # fmt: skip


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class SqlCounter:
    """Counts statements and commits on an engine by the innermost services/jobs/bot module on the stack."""

    def __init__(self) -> None:
        self.statements: Counter[str] = Counter()
        self.commits: Counter[str] = Counter()
        self.kinds: Counter[tuple[str, str]] = Counter()
        self.shapes: Counter[tuple[str, str]] = Counter()  # (module, the statement's first 90 characters)

    @staticmethod
    def stage() -> str:
        frame = sys._getframe(2)
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if module.startswith(("services.", "jobs.", "bot.")):
                return module
            frame = frame.f_back
        return "(other)"

    def attach(self, engine: Any) -> None:
        """Listen on `engine` (the events fire in this process only)."""
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def _statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            where = self.stage()
            self.statements[where] += 1
            self.kinds[(where, statement.split(None, 1)[0].upper())] += 1
            self.shapes[(where, " ".join(statement.split())[:90])] += 1

        @event.listens_for(engine, "commit")
        def _commit(conn: Any) -> None:
            self.commits[self.stage()] += 1


def run(
    mode: str,
    n: int,
    profile: str | None = None,
    database: str = "sqlite",
    residents: int = 50,
    counter: SqlCounter | None = None,
) -> dict[str, Any]:
    """Store n messages, drain them with one worker of `mode`; return the figures (and a cProfile dump)."""
    import sqlalchemy as sa
    from rq.registry import FinishedJobRegistry

    import models
    from infra.db import make_engine
    from infra.embedded import EmbeddedRedis, free_port
    from infra.web import db_session, get_db, get_redis
    from jobs.queue import QUEUES, get_queue
    from jobs.relay import relay_inbound
    from jobs.worker import HongguanSimpleWorker, HongguanWorker
    from services.demo import seed_all
    from wechat import sandbox as sb
    from wsgi import create_app

    tmp = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    redis = EmbeddedRedis(tmp / "redis", persist=False).start()
    port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-c", f"from wechat.sandbox import serve; serve('127.0.0.1', {port})"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    pg = None
    if database == "postgres":
        from infra.embedded import EmbeddedPostgres

        pg = EmbeddedPostgres().start()
        url = pg.url
    else:
        url = f"sqlite:///{tmp / 'h.db'}"
    engine = make_engine(url)
    if pg is not None:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS btree_gist"))
    models.Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app({
        "ENV": "development", "INSTANCE_PATH": str(tmp / "instance"), "DATABASE_URL": url,
        "REDIS_URL": redis.url, "WECHAT_API_BASE": f"http://127.0.0.1:{port}", "WECHAT_APPID": sb.DEFAULT_APPID,
        "WECHAT_SECRET": sb.DEFAULT_SECRET, "MINIAPP_APPID": sb.DEFAULT_MINIAPP_APPID,
        "MINIAPP_SECRET": sb.DEFAULT_MINIAPP_SECRET, "WECHAT_TOKEN": "bench", "WECHAT_ACCOUNT_ID": "gh_bench",
    })  # fmt: skip
    try:
        with app.app_context(), get_db(app).transaction() as session:
            seed_all(session)
        client = app.test_client()
        for i in range(n):
            ts, nonce = str(int(time.time())), secrets.token_hex(8)
            sig = hashlib.sha1("".join(sorted(["bench", ts, nonce])).encode()).hexdigest()
            openid = f"o-bench-{i % residents:06d}"
            body = (
                f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
                f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                f"<Content><![CDATA[{TEXTS[i % len(TEXTS)]}{i}]]></Content><MsgId>{10**12 + i}</MsgId></xml>"
            )
            resp = client.post(f"/wechat?signature={sig}&timestamp={ts}&nonce={nonce}&openid={openid}",
                               data=body.encode(), content_type="text/xml")  # fmt: skip
            assert resp.status_code == 200, resp.data
        with app.app_context():
            while relay_inbound(db_session(), get_redis()) > 0:
                pass
            queues = [get_queue(q) for q in QUEUES]
        worker_class = HongguanWorker if mode == "fork" else HongguanSimpleWorker
        worker = worker_class(queues, connection=get_redis(app), app=app)
        if counter is not None:
            counter.attach(get_db(app).engine)
        cpu0 = _cpu()
        if profile and mode != "fork":  # a work horse's time would not reach this process's profiler
            import cProfile

            cProfile.runctx("worker.work(burst=True)", globals(), {"worker": worker}, profile)
        else:
            worker.work(burst=True)
        cpu = _cpu() - cpu0
        jobs = []
        for q in queues:
            registry = FinishedJobRegistry(queue=q)
            jobs += [j for j in q.job_class.fetch_many(registry.get_job_ids(), connection=q.connection) if j]
        started = min(j.started_at for j in jobs)
        ended = max(j.ended_at for j in jobs)
        seconds = (ended - started).total_seconds()
        with make_engine(url).connect() as conn:
            handled = conn.execute(sa.text("select count(*) from inbound_message where status = 'handled'")).scalar()
        return {"mode": mode, "messages": n, "handled": handled, "jobs": len(jobs), "seconds": seconds,
                "rate": handled / seconds, "cpu_ms": 1000 * cpu / max(handled, 1)}  # fmt: skip
    finally:
        get_db(app).dispose()
        sandbox.terminate()
        redis.stop()
        if pg is not None:
            pg.stop()


def main() -> None:
    """Run each mode once and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--modes", default="fork,inprocess")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--residents", type=int, default=50, help="distinct senders (each new one is created)")
    parser.add_argument("--profile", help="write a cProfile dump of the in-process drain to this file")
    parser.add_argument("--count-sql", action="store_true", help="count SQL statements per message, by module")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # RQ's per-job lines would be most of the output
    counter = SqlCounter() if args.count_sql else None
    rows = [
        run(mode, args.messages, args.profile, args.database, args.residents, counter if mode != "fork" else None)
        for mode in args.modes.split(",")
    ]
    print(
        f"\nOne RQ worker draining {args.messages} stored messages from {args.residents} residents ({args.database}, "
        "sandbox in its own process)"
    )
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    print("| worker | messages handled | jobs | jobs/message | seconds | messages/s | worker CPU ms/message |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['handled']} | {r['jobs']} | {r['jobs'] / max(r['handled'], 1):.2f} | "
              f"{r['seconds']:.2f} | {r['rate']:.1f} | {r['cpu_ms']:.1f} |")  # fmt: skip
    print(f"\nload average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (the machine is shared)")
    if counter is not None:
        handled = next(r["handled"] for r in rows if r["mode"] != "fork")
        print(f"\nSQL per handled message ({handled} handled), by the innermost module that issued it")
        print("| module | statements | commits | of which SELECT / INSERT / UPDATE / DELETE |")
        print("|---|---:|---:|---|")
        for where, count in counter.statements.most_common():
            kinds = " / ".join(
                f"{counter.kinds[(where, k)] / handled:.2f}" for k in ("SELECT", "INSERT", "UPDATE", "DELETE")
            )
            print(f"| {where} | {count / handled:.2f} | {counter.commits[where] / handled:.2f} | {kinds} |")
        total = sum(counter.statements.values()) / handled
        print(f"| all | {total:.2f} | {sum(counter.commits.values()) / handled:.2f} | |")
        print("\nThe most frequent statements (per handled message)")
        for (where, shape), count in counter.shapes.most_common(30):
            print(f"- {count / handled:.2f} {where}: `{shape}`")
    if args.profile:
        import pstats

        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
