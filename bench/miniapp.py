"""Benchmark: event signup, venue booking and reward redemption under contention (PostgreSQL).

Starts a throwaway PostgreSQL (infra.embedded.EmbeddedPostgres), builds the schema, and runs each scenario
with T threads (each with its own session and transaction per operation, as a request would), then checks the
invariants (no overbooking, no negative balance, no stock below zero, cached == SUM(ledger));
prints a table.
Run: .venv/bin/python bench/miniapp.py [--threads 16] [--ops 400]
"""

from __future__ import annotations

import argparse
import platform
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

import models
from infra import clock
from infra.db import Database
from infra.embedded import EmbeddedPostgres
from models import Resident
from services.demo import seed_org
from services.errors import DomainError
from services.points import events, rewards
from services.points import ledger as points


def run_parallel(db: Database, ops: list[Callable[[Any], Any]], threads: int) -> dict[str, Any]:
    """Run each op in its own transaction on `threads` workers; return throughput, latency and outcomes."""
    work: queue.Queue[Callable[[Any], Any]] = queue.Queue()
    for op in ops:
        work.put(op)
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    lock = threading.Lock()
    start_gate = threading.Barrier(threads + 1)

    def worker() -> None:
        start_gate.wait()
        while True:
            try:
                op = work.get_nowait()
            except queue.Empty:
                return
            t0 = time.perf_counter()
            session = db.session()
            try:
                op(session)
                session.commit()
                outcome = "ok"
            except DomainError as e:
                session.rollback()
                outcome = e.code
            finally:
                session.close()
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    start_gate.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "ops": len(ops),
        "wall": wall,
        "rate": len(ops) / wall,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
        "outcomes": outcomes,
    }


def make_residents(db: Database, n: int, fund: int) -> tuple[Any, list[int]]:
    """n residents of grid G1, each credited `fund` points."""
    with db.transaction() as s:
        org = seed_org(s)
        ids = []
        for i in range(n):
            r = Resident(name=f"居民{i}", community_id=org.community.id, grid_id=org.grids["G1"].id, is_volunteer=True)
            s.add(r)
            s.flush()
            if fund:
                points.post(
                    s,
                    r.id,
                    fund,
                    kind="earn",
                    source_type="manual",
                    source_id=None,
                    idempotency_key=f"b{r.id}",
                )
            ids.append(r.id)
        return org, ids


def scenario_signup(db: Database, n: int, threads: int) -> tuple[dict[str, Any], str]:
    org, ids = make_residents(db, n, 0)
    with db.transaction() as s:
        ev = events.create_event(
            s, org.staff["community_staff"].id, title="bench", starts_at=clock.now() + timedelta(days=2),
            ends_at=clock.now() + timedelta(days=2, hours=2), capacity=n // 4, waitlist_capacity=n // 4,
        )  # fmt: skip
        event_id, capacity = ev.id, ev.capacity
    result = run_parallel(db, [lambda s, r=r: events.signup(s, event_id, r) for r in ids], threads)
    with db.transaction() as s:
        confirmed = events.count_confirmed(s, event_id)
        counter = s.get(models.Event, event_id).confirmed_count
    check = f"confirmed {confirmed} = counter {counter} = capacity {capacity}"
    assert confirmed == counter == capacity, check
    return result, check


def scenario_booking(db: Database, n: int, threads: int, *, same_slot: bool) -> tuple[dict[str, Any], str]:
    from services.booking import venues as booking

    org, ids = make_residents(db, n, 0)
    with db.transaction() as s:
        hours = {str(d): [["08:00", "20:00"]] for d in range(7)}
        venue = booking.create_venue(
            s, community_id=org.community.id, name="bench hall", capacity=10, opening_hours=hours
        )
        day = (clock.local_now() + timedelta(days=2)).date()
        slots = [x["starts_at"] for x in booking.slot_availability(s, venue, day, now=clock.now()) if x["bookable"]]
        venue_id = venue.id
    if not slots:
        raise RuntimeError("no bookable slot found for the benchmark venue")
    chosen = [slots[0] if same_slot else slots[i % len(slots)] for i in range(n)]
    ops = [
        lambda s, r=r, at=at: booking.book(s, venue_id=venue_id, resident_id=r, starts_at=at, now=clock.now())
        for r, at in zip(ids, chosen, strict=True)
    ]
    result = run_parallel(db, ops, threads)
    with db.transaction() as s:
        per_slot = s.execute(
            sa.text("SELECT starts_at, count(*) FROM booking WHERE venue_id = :v AND status = 'confirmed' GROUP BY 1"),
            {"v": venue_id},
        ).all()
    worst = max((c for _, c in per_slot), default=0)
    check = f"max confirmed per slot {worst} <= capacity 10 over {len(per_slot)} slot(s)"
    assert worst <= 10, check
    return result, check


def scenario_redeem(db: Database, n: int, threads: int, kind: str) -> tuple[dict[str, Any], str]:
    if kind == "hot_account":  # one resident, balance for n/4 redemptions
        org, ids = make_residents(db, 1, 10 * (n // 4))
        ids = ids * n
    else:
        org, ids = make_residents(db, n, 10)
    with db.transaction() as s:
        partner = points.create_partner(s, org.community.id, f"P-{kind}", "bench partner")
        stock = n // 2 if kind == "hot_reward" else n * 2
        reward_ids = [
            rewards.create_reward(s, partner.id, name=f"r{i}", cost_points=10, stock=stock).id
            for i in range(1 if kind != "spread" else 20)
        ]
    ops = [
        lambda s, i=i, r=r: rewards.redeem(s, r, reward_ids[i % len(reward_ids)], request_key=f"k{i}", secret="bench")
        for i, r in enumerate(ids)
    ]
    result = run_parallel(db, ops, threads)
    with db.transaction() as s:
        mismatches = points.reconcile(s)
        negative = s.scalar(sa.text("SELECT count(*) FROM points_account WHERE balance < 0"))
        min_stock = s.scalar(sa.text("SELECT min(stock) FROM reward"))
        spent = s.scalar(sa.text("SELECT count(*) FROM redemption"))
    check = f"{spent} redeemed, min stock {min_stock}, negative balances {negative}, mismatches {len(mismatches)}"
    assert not mismatches, check
    assert negative == 0, check
    assert min_stock >= 0, check
    return result, check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--ops", type=int, default=400)
    args = parser.parse_args()
    server = EmbeddedPostgres().start()
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    rows: list[tuple[str, dict[str, Any], str]] = []
    try:
        n, t = args.ops, args.threads
        scenarios: list[tuple[str, Callable[[Database], tuple[dict[str, Any], str]]]] = [
            ("event signup, one event (cap n/4 + waitlist n/4)", lambda db: scenario_signup(db, n, t)),
            ("booking, one slot of a 10-seat venue", lambda db: scenario_booking(db, n, t, same_slot=True)),
            ("booking, spread over the day's slots", lambda db: scenario_booking(db, n, t, same_slot=False)),
            ("redeem, hot reward (stock n/2)", lambda db: scenario_redeem(db, n, t, "hot_reward")),
            ("redeem, hot account (balance for n/4)", lambda db: scenario_redeem(db, n, t, "hot_account")),
            ("redeem, spread (n residents, 20 rewards)", lambda db: scenario_redeem(db, n, t, "spread")),
        ]
        for i, (name, run) in enumerate(scenarios):
            dbname = f"bench{i}"
            with admin.connect() as conn:
                conn.execute(sa.text(f"CREATE DATABASE {dbname}"))
            db = Database(server.url.rsplit("/", 1)[0] + f"/{dbname}")
            with db.engine.begin() as conn:
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS btree_gist"))
            models.Base.metadata.create_all(db.engine)
            try:
                result, check = run(db)
            except Exception as e:
                result, check = {}, f"not run: {type(e).__name__}: {e}"[:120]
            finally:
                db.dispose()
            rows.append((name, result, check))
    finally:
        admin.dispose()
        server.stop()
    print(f"PostgreSQL (embedded, fsync off), {args.threads} threads, {args.ops} operations per scenario; "
          f"Python {platform.python_version()}, {platform.machine()}")  # fmt: skip
    print()
    print("| scenario | ops/s | p50 ms | p95 ms | outcomes | invariant |")
    print("|---|---:|---:|---:|---|---|")
    for name, r, check in rows:
        if not r:
            print(f"| {name} | – | – | – | – | {check} |")
            continue
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
        print(f"| {name} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {outcomes} | {check} |")


if __name__ == "__main__":
    main()
