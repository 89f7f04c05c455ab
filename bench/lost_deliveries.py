"""Benchmark of the lost-delivery sweep: one `services.notifications.notify.unsettled_deliveries` pass over a
day of delivery jobs handed to RQ (most of them sent, a few lost by a dead worker), on PostgreSQL and SQLite.

The sweep (`jobs.notifications.resume_lost_deliveries`, every 5 minutes) reads the outbox rows of delivery jobs
handed to RQ between 5 minutes and a day ago, 500 at a time, and the ledger rows of their keys; this is its cost
when a day saw `--jobs` notifications.
Run: .venv/bin/python bench/lost_deliveries.py [--jobs 20000] [--lost 20] [--runs 5] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

import models
from infra.db import Database
from infra.embedded import EmbeddedPostgres
from models import OutboundMessage, PendingJob
from services.notifications import notify

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _setup(db: Database, jobs: int, lost: int) -> None:
    """`jobs` call-up notifications handed to RQ over the last day; all but `lost` of them sent."""
    spread = (notify.LOST_LOOKBACK - notify.LOST_AFTER).total_seconds() / jobs
    pending, ledger = [], []
    for i in range(jobs):
        key = notify.resident_ledger_key(i + 1, "callup-1")
        at = NOW - notify.LOST_LOOKBACK + timedelta(seconds=spread * i)
        pending.append({
            "job_id": notify.job_id_for(key), "func": notify.RESIDENT_JOB, "queue": "default", "attempts": 0,
            "args": [i + 1, "倡议：冬季扫雪", "callup-1", None, "callup", 1], "kwargs": {}, "created_at": at,
            "enqueued_at": at,
        })  # fmt: skip
        if i % (jobs // lost) != 0:
            ledger.append({
                "channel": "template", "openid": f"o-{i}", "payload": {}, "idempotency_key": key, "status": "sent",
                "errcode": 0, "errmsg": "ok", "related_type": "callup", "related_id": 1, "created_at": at,
            })  # fmt: skip
    with db.engine.begin() as conn:
        conn.execute(sa.insert(PendingJob), pending)
        conn.execute(sa.insert(OutboundMessage), ledger)


def bench_backend(name: str, url: str, args: argparse.Namespace) -> tuple[str, float, float, int]:
    """Create the schema and the day's rows, then time the sweep's query `runs` times (median, max in ms)."""
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            if db.is_postgres:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS btree_gist")
        models.Base.metadata.create_all(db.engine)
        _setup(db, args.jobs, args.lost)
        timings, found = [], 0
        for _ in range(args.runs):
            s = db.session()
            try:
                started = time.perf_counter()
                found = len(notify.unsettled_deliveries(s, now=NOW))
                timings.append((time.perf_counter() - started) * 1000)
                s.rollback()
            finally:
                s.close()
        assert found == args.lost, (found, args.lost)
        return name, statistics.median(timings), max(timings), found
    finally:
        db.dispose()


def main() -> None:
    """Run on each backend and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--lost", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    args = parser.parse_args()
    results = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="hongguan-bench-") as tmp:
        if args.only in (None, "postgres"):
            pg = EmbeddedPostgres().start()
            try:
                results.append(bench_backend("PostgreSQL", pg.url, args))
            finally:
                pg.stop()
        if args.only in (None, "sqlite"):
            results.append(bench_backend("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", args))
    print(f"# Lost-delivery sweep: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.jobs:,} delivery jobs handed to RQ in the day, {args.lost} of them lost; {args.runs} runs; load "
          f"average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    print()
    print("| backend | one sweep, median (ms) | max (ms) | lost deliveries found |")
    print("|---|---|---|---|")
    for name, median, worst, found in results:
        print(f"| {name} | {median:.0f} | {worst:.0f} | {found} |")


if __name__ == "__main__":
    main()
