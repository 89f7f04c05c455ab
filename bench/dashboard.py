"""Benchmark: the 分析研判 dashboard page over 100,000 appeals on PostgreSQL, through the Flask app, signed in.

Loads the appeals and events of bench/appeals.py (same generator: returns, late acceptance, reopens, ratings,
consultations, 180 days) plus a category per appeal, builds the dashboards' summary once (timed), then
requests /console/dashboards with a signed-in browser session (Flask test client: the whole app — session
check, scope, summary freshness check, queries, SVG, template) N times per page and filter, and prints
p50/p95/p99 in ms: "computed" with the page's one-minute cache off (every request queries the summary),
"served" with it on (as in production: the same scope and filter again within a minute). Then writes new
events on 200 appeals and times the request that picks them up.
Target: p95 < 300 ms.
Run: .venv/bin/python bench/dashboard.py [--appeals 100000] [--requests 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

import models
from bench.appeals import load
from console.pages import dashboards
from infra.db import Database
from infra.embedded import EmbeddedPostgres, EmbeddedRedis
from services.appeals.analytics import refresh_facts
from services.console.signin import issue_link

# Category shares (weights out of 20): property and sanitation dominate, as in the demo community's data.
CATEGORY_SPREAD = (
    ["property"] * 5 + ["sanitation"] * 4 + ["municipal"] * 2 + ["city_order"] * 2 + ["traffic_parking"] * 2
    + ["noise", "neighbor", "fire_safety", "social_welfare", "consult"]
)  # fmt: skip
WHOLE = "from=2026-04-30&to=2026-11-30"
PAGES = [
    ("secretary", "whole period, by grid", f"{WHOLE}&group_by=grid"),
    ("secretary", "whole period, by department", f"{WHOLE}&group_by=department"),
    ("secretary", "whole period, by property company", f"{WHOLE}&group_by=property_company"),
    ("secretary", "whole period, by category", f"{WHOLE}&group_by=category"),
    ("secretary", "whole period, by month", f"{WHOLE}&group_by=month"),
    ("secretary", "one month (Oct), by grid", "from=2026-10-01&to=2026-10-31&group_by=grid"),
    ("secretary", "whole period, category 物业服务", f"{WHOLE}&group_by=grid&category=property"),
    ("g1_leader", "grid leader, whole period", f"{WHOLE}&group_by=grid"),
    ("g1_leader", "grid leader, by month", f"{WHOLE}&group_by=month"),
    ("dept_chengguan", "department, whole period", WHOLE),
]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of the values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def sign_in(app: Any, staff_id: int) -> Any:
    """A test client signed in through a one-time link, as a staff member's browser is."""
    from infra.web import get_db

    with get_db(app).transaction() as session:
        token = issue_link(session, staff_id)
    browser = app.test_client()
    page = browser.get(f"/console/login/link/{token}").get_data(as_text=True)
    found = CSRF.search(page)
    assert found, "sign-in page without a form"
    done = browser.post(f"/console/login/link/{token}", data={"csrf_token": found.group(1)})
    assert done.status_code == 302, done.status_code
    return browser


def timed_requests(browser: Any, query: str, n: int) -> list[float]:
    """n GETs of the dashboard, each checked for a 200 with its table, in ms."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        resp = browser.get(f"/console/dashboards?{query}")
        body = resp.get_data()
        times.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200, resp.status_code
        assert b'id="dashboard-kpi"' in body
    return times


def explain(db: Database) -> None:
    """EXPLAIN ANALYZE of the summary's main queries (to stderr): index use on the date, close and deadline times."""
    start, end = datetime(2026, 10, 1, tzinfo=UTC).timestamp(), datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    # Only numbers made above are formatted into these statements.
    queries = {
        "one month by grid": f"SELECT grid_id, sum(appeals), sum(dispatched) FROM kpi_fact WHERE created_s >= {start} "  # noqa: S608
        f"AND created_s < {end} AND community_id = 1 GROUP BY grid_id",
        "weekly closed": f"SELECT sum(CASE WHEN closed_s < {start + 604800} THEN closed ELSE 0 END) FROM kpi_fact "  # noqa: S608
        f"WHERE closed_s >= {start} AND closed_s < {end}",
    }
    with db.engine.connect() as conn:
        for name, sql in queries.items():
            plan = [r[0] for r in conn.exec_driver_sql(f"EXPLAIN ANALYZE {sql}")]
            print(f"-- EXPLAIN ANALYZE {name}:\n  " + "\n  ".join(plan), file=sys.stderr)


def main() -> None:
    """Load PostgreSQL, build the summary, time the dashboard pages, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appeals", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page after one warm-up")
    args = parser.parse_args()

    from infra.web import get_db
    from wsgi import create_app

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="hongguan-bench-dash-") as tmp:
        pg = EmbeddedPostgres().start()
        redis = EmbeddedRedis(Path(tmp) / "redis").start()
        try:
            db = Database(pg.url)
            with db.engine.begin() as conn:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS btree_gist")
            models.Base.metadata.create_all(db.engine)
            events, load_s = load(db, args.appeals)
            spread = "ARRAY[" + ", ".join(f"'{c}'" for c in CATEGORY_SPREAD) + "]"
            with db.engine.begin() as conn:
                shares = f"({spread})[1 + (id * 7919) % {len(CATEGORY_SPREAD)}]"
                conn.execute(sa.text(f"UPDATE appeal SET category = {shares}"))  # noqa: S608 - constants only
            print(f"{args.appeals:,} appeals, {events:,} events loaded in {load_s:.1f} s", file=sys.stderr)
            app = create_app({
                "ENV": "development", "INSTANCE_PATH": str(Path(tmp) / "instance"), "DATABASE_URL": pg.url,
                "REDIS_URL": redis.url, "CONSOLE_COOKIE_SECURE": False, "WECHAT_TOKEN": "bench-token",
                "WECHAT_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "WECHAT_APPID": "wxbench",
                "WECHAT_SECRET": "bench-secret", "WECHAT_ACCOUNT_ID": "gh_bench",
            })  # fmt: skip
            with get_db(app).transaction() as session:
                t0 = time.perf_counter()
                refresh_facts(session)
                build_s = time.perf_counter() - t0
                rows = session.scalar(sa.select(sa.func.count()).select_from(models.KpiFact))
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE kpi_fact")
            print(f"summary built: {rows:,} rows in {build_s:.2f} s", file=sys.stderr)
            explain(db)
            with get_db(app).transaction() as session:
                staff = {s.openid: s.id for s in session.scalars(sa.select(models.Staff))}
            cache_seconds = dashboards.CACHE_SECONDS
            browsers = {key: sign_in(app, staff[f"o-staff-{key.replace('_', '-')}"]) for key, _, _ in PAGES}
            results = []
            for key, label, query in PAGES:
                timed_requests(browsers[key], query, 1)  # warm-up: templates compiled, plans cached
                dashboards.CACHE_SECONDS = 0  # every request computes its figures from the summary
                computed = timed_requests(browsers[key], query, args.requests)
                dashboards.CACHE_SECONDS = cache_seconds  # as served: the same figures within a minute
                served = timed_requests(browsers[key], query, args.requests)
                results.append((label, computed, served))
            # New events on 200 appeals (ratings), then the next request re-reads those appeals first.
            with db.engine.begin() as conn:
                rated = list(range(1, args.appeals + 1, max(1, args.appeals // 200)))[:200]
                conn.execute(
                    models.AppealEvent.__table__.insert(),
                    [{"appeal_id": i, "action": "rate", "actor_type": "resident", "payload": {"rating": "satisfied"},
                      "created_at": datetime.now(UTC)} for i in rated],
                )  # fmt: skip
            first = timed_requests(browsers["secretary"], PAGES[0][2], 1)
            results.append(("first request after 200 new events", first, first))
            get_db(app).dispose()
            db.dispose()
        finally:
            redis.stop()
            pg.stop()

    print(f"# Dashboard benchmark: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"PostgreSQL (embedded), {args.appeals:,} appeals, {events:,} events, {rows:,} summary rows; "
          f"summary built in {build_s:.2f} s; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after")  # fmt: skip
    print()
    print("| page / filter | requests | computed p50 (ms) | computed p95 | computed p99 | served p50 (ms) | "
          "served p95 | served p99 | target p95 < 300 ms (computed) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, computed, served in results:
        p95 = percentile(computed, 95)
        figures = " | ".join(
            f"{statistics.median(t):.0f} | {percentile(t, 95):.0f} | {percentile(t, 99):.0f}"
            for t in (computed, served)
        )
        print(f"| {label} | {len(computed)} | {figures} | {'met' if p95 < 300 else 'MISSED'} |")


if __name__ == "__main__":
    main()
