"""Benchmark: the appeal KPI table over 100,000 appeals with their events, SQLite and PostgreSQL.

Creates the appeals with realistic event sequences (returns, late acceptance, reopen, ratings, consultations)
by bulk inserts, then times `services.appeals.kpi.kpi_table` for every grouping. Target: under 2 s per table on
PostgreSQL.
Run: .venv/bin/python bench/appeals.py [--appeals 100000] [--runs 5] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

import models
from infra.db import Database
from infra.embedded import EmbeddedPostgres
from models import Grid, PropertyCompany
from services.appeals.kpi import GROUPINGS, kpi_table
from services.demo import seed_org

START = datetime(2026, 5, 1, tzinfo=UTC)
DAYS = 180
EXTRA_GRIDS = 17  # 20 grids in all
EXTRA_COMPANIES = 6  # 8 property companies in all
CLOSE_CODES = [("resolved", 85), ("unresolved", 8), ("duplicate", 3), ("referred", 2), ("withdrawn", 2)]
RATINGS = [("satisfied", 70), ("basically_satisfied", 20), ("unsatisfied", 10)]
RETURN_REASONS = ["wrong_area", "unclear_ownership", "overlapping_remit", "incomplete"]


def pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    """A weighted choice."""
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


class Units:
    """The ids a dispatch can name: grids, departments and property companies of the seeded community."""

    def __init__(self, community_id: int, grids: list[int], departments: list[int], companies: list[int]) -> None:
        self.community_id = community_id
        self.grids = grids
        self.departments = departments
        self.companies = companies

    def dispatch_payload(self, rng: random.Random, at: datetime, urgent: bool) -> dict[str, Any]:
        """A dispatch payload to a random unit (half grids, a third departments, the rest companies)."""
        kind = rng.choices(["grid", "department", "property_company"], [50, 35, 15])[0]
        due = timedelta(hours=2) if urgent else timedelta(days=rng.choice([3, 3, 3, 5, 15]))
        return {
            "handler_type": kind,
            "grid_id": rng.choice(self.grids),
            "department_id": rng.choice(self.departments) if kind == "department" else None,
            "property_company_id": rng.choice(self.companies) if kind == "property_company" else None,
            "community_id": self.community_id,
            "due_at": (at + due).isoformat(),
            "accept_due_at": (at + timedelta(hours=2)).isoformat(),
        }


def appeal_events(rng: random.Random, appeal_id: int, units: Units) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One appeal row and its event sequence, following the workflow's vocabulary."""
    t = START + timedelta(seconds=rng.randrange(DAYS * 86400))
    kind = "consultation" if rng.random() < 0.10 else "appeal"
    urgent = rng.random() < 0.05
    events: list[dict[str, Any]] = []

    def add(action: str, at: datetime, **fields: Any) -> None:
        events.append({"appeal_id": appeal_id, "action": action, "created_at": at, "actor_type": "system", **fields})

    add("create", t, to_status="received", payload={"kind": kind, "channel": "wechat"})
    t += timedelta(seconds=rng.randrange(5, 120))
    add("classify", t, payload={"category": "environment", "confidence": 0.8, "urgent": urgent})
    status = "received"
    if rng.random() < 0.05:  # withdrawn or still waiting in triage
        if rng.random() < 0.5:
            t += timedelta(hours=rng.uniform(1, 48))
            add("withdraw", t)
            add("close", t, to_status="closed", reason_code="withdrawn")
            status = "closed"
        return _appeal_row(appeal_id, kind, status), events
    dispatches = 2 if rng.random() < 0.08 else 1
    for n in range(dispatches):
        t += timedelta(minutes=rng.uniform(5, 240))
        add("dispatch", t, to_status="dispatched", payload=units.dispatch_payload(rng, t, urgent))
        status = "dispatched"
        if n < dispatches - 1:
            t += timedelta(minutes=rng.uniform(10, 600))
            add("return", t, to_status="returned", reason_code=rng.choice(RETURN_REASONS), note="退单")
    roll = rng.random()
    if roll < 0.05:
        return _appeal_row(appeal_id, kind, status), events  # never accepted
    t += timedelta(minutes=rng.uniform(5, 110) if roll < 0.90 else rng.uniform(130, 1440))
    add("accept", t, to_status="accepted")
    t += timedelta(minutes=rng.uniform(5, 120))
    add("start", t, to_status="in_progress")
    status = "in_progress"
    if rng.random() < 0.3:
        add("remind", t + timedelta(hours=12), payload={"level": 1})
    if rng.random() < 0.2:
        add("note", t + timedelta(hours=2), note="已联系物业")
    if rng.random() < 0.10:
        return _appeal_row(appeal_id, kind, status), events
    t += timedelta(hours=rng.lognormvariate(3, 1))
    add("resolve", t, to_status="resolved", note="已处理")
    status = "resolved"
    if rng.random() < 0.05:
        return _appeal_row(appeal_id, kind, status), events
    t += timedelta(hours=rng.uniform(1, 72))
    add("close", t, to_status="closed", reason_code=pick(rng, CLOSE_CODES))
    status = "closed"
    if rng.random() < 0.7:
        add("rate", t + timedelta(hours=1), payload={"rating": pick(rng, RATINGS)})
    if rng.random() < 0.03:
        t += timedelta(hours=rng.uniform(2, 100))
        add("reopen", t, to_status="in_progress")
        t += timedelta(hours=rng.uniform(2, 100))
        add("resolve", t, to_status="resolved", note="再次处理")
        add("close", t + timedelta(hours=24), to_status="closed", reason_code="resolved")
    return _appeal_row(appeal_id, kind, status), events


def _appeal_row(appeal_id: int, kind: str, status: str) -> dict[str, Any]:
    return {
        "id": appeal_id,
        "public_id": uuid.uuid4().hex,
        "kind": kind,
        "channel": "wechat",
        "text": "楼道堆放杂物",
        "status": status,
        "urgent": False,
        "urgency_reasons": [],
        "routing_keywords": [],
        "overdue": False,
        "escalation_level": 0,
        "return_count": 0,
        "reopen_count": 0,
    }


def generate(n: int, units: Units, seed: int = 4) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The n appeals, reproducibly."""
    rng = random.Random(seed)
    for i in range(1, n + 1):
        yield appeal_events(rng, i, units)


def seed_units(db: Database) -> Units:
    """Seed the demo community plus extra grids and property companies (20 grids, 8 companies)."""
    with db.transaction() as session:
        org = seed_org(session)
        for i in range(EXTRA_GRIDS):
            session.add(Grid(community_id=org.community.id, code=f"BG{i}", name=f"基准网格{i}"))
        for i in range(EXTRA_COMPANIES):
            session.add(PropertyCompany(code=f"BPC{i}", name=f"基准物业{i}"))
        session.flush()
        return Units(
            org.community.id,
            list(session.scalars(sa.select(Grid.id))),
            [d.id for d in org.departments.values()],
            list(session.scalars(sa.select(PropertyCompany.id))),
        )


def load(db: Database, n: int) -> tuple[int, float]:
    """Bulk-insert n appeals and their events (Core executemany in batches); returns (events, seconds)."""
    units = seed_units(db)
    appeal_table = models.Appeal.__table__
    event_table = models.AppealEvent.__table__
    now = datetime(2026, 11, 20, tzinfo=UTC)
    t0 = time.perf_counter()
    total = 0
    batch_a: list[dict[str, Any]] = []
    batch_e: list[dict[str, Any]] = []
    defaults = {"from_status": None, "to_status": None, "actor_id": None, "reason_code": None, "note": None,
                "payload": {}}  # fmt: skip

    def flush() -> None:
        with db.engine.begin() as conn:
            conn.execute(appeal_table.insert(), batch_a)
            conn.execute(event_table.insert(), batch_e)
        batch_a.clear()
        batch_e.clear()

    for appeal, events in generate(n, units):
        appeal["community_id"] = units.community_id
        appeal["created_at"] = appeal["updated_at"] = now
        batch_a.append(appeal)
        batch_e.extend({**defaults, **e} for e in events)
        total += len(events)
        if len(batch_a) >= 5000:
            flush()
    if batch_a:
        flush()
    if db.is_postgres:
        # VACUUM now, or autovacuum wakes up on the freshly loaded table in the middle of the timings.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return total, time.perf_counter() - t0


def time_groupings(db: Database, runs: int) -> list[tuple[str, float, float, int]]:
    """(grouping, first run s, median of `runs` s, rows) for every grouping over the whole period."""
    results = []
    start, end = START - timedelta(days=1), START + timedelta(days=DAYS + 1)
    for grouping in GROUPINGS:
        times = []
        rows: list[Any] = []
        for _ in range(runs + 1):
            with db.session() as session:
                t0 = time.perf_counter()
                rows = kpi_table(session, start=start, end=end, group_by=grouping)  # type: ignore[arg-type]
                times.append(time.perf_counter() - t0)
                session.rollback()
        results.append((grouping, times[0], statistics.median(times[1:]), len(rows)))
    return results


def bench_backend(name: str, url: str, n: int, runs: int) -> list[tuple[str, str, float, float, int]]:
    """Create the schema, load the data, time every grouping."""
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            if db.is_postgres:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS btree_gist")
        models.Base.metadata.create_all(db.engine)
        events, load_s = load(db, n)
        print(f"{name}: {n:,} appeals, {events:,} events loaded in {load_s:.1f} s", file=sys.stderr)
        return [(name, g, first, median, rows) for g, first, median, rows in time_groupings(db, runs)]
    finally:
        db.dispose()


def main() -> None:
    """Load both backends, time the KPI table per grouping and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appeals", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per grouping after one cold run")
    parser.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    args = parser.parse_args()

    results = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="hongguan-bench-") as tmp:
        if args.only in (None, "sqlite"):
            results += bench_backend("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", args.appeals, args.runs)
        if args.only in (None, "postgres"):
            pg = EmbeddedPostgres().start()
            try:
                results += bench_backend("PostgreSQL", pg.url, args.appeals, args.runs)
            finally:
                pg.stop()

    print(f"# Appeal KPI benchmark: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {args.appeals:,} appeals; load average {load_before:.1f} "
          f"before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    print()
    print("| backend | grouping | rows | first run (s) | median of next runs (s) | target |")
    print("|---|---|---|---|---|---|")
    for backend, grouping, first, median, rows in results:
        target = ("met" if median < 2.0 else "MISSED") if backend == "PostgreSQL" else "-"
        print(f"| {backend} | {grouping} | {rows} | {first:.2f} | {median:.2f} | {target} |")


if __name__ == "__main__":
    main()
