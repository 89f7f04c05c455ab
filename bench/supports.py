"""Benchmark of proposal supports: supports per second under 50-way contention, each resident tapping several
times at once (only the first counts), on PostgreSQL and SQLite.

Supports go through `services.participation.supports.support`, one transaction each, from threads released
together; every tap inserts into UNIQUE(proposal_id, resident_id) with ON CONFLICT DO NOTHING and moves the
proposal's counter with one conditional UPDATE (the row every support of the proposal contends for).
Run: .venv/bin/python bench/supports.py [--residents 2000] [--taps 3] [--threads 50] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

import models
from infra import clock
from infra.db import Database
from infra.embedded import EmbeddedPostgres
from models import Proposal, ProposalSupport, Resident
from services.demo import seed_org
from services.errors import Conflict
from services.participation import proposals, supports

BUILDINGS = [f"E-LZ-{n}" for n in range(1, 7)]


def _setup(db: Database, residents: int) -> tuple[int, list[int]]:
    """A proposal of 绿洲花园 gathering supports (needing more than everyone), and `residents` bound residents."""
    with db.transaction() as s:
        org = seed_org(s)
        supports.set_threshold(s, org.staff["community_staff"], supports_needed=residents + 1, window_days=30)
        proposer = Resident(openid="bench-proposer", community_id=org.community.id,
                            building_id=org.buildings["E-LZ-1"].id, room="proposer")  # fmt: skip
        s.add(proposer)
        s.flush()
        p = proposals.propose(s, proposer, title="座椅", description="楼下增设座椅", scope="estate")
        building_ids = [org.buildings[k].id for k in BUILDINGS]
        community_id, proposal_id = org.community.id, p.id
    now = clock.now()
    rows = [
        {"openid": f"s-{i}", "community_id": community_id, "building_id": building_ids[i % 6], "room": f"s{i}",
         "created_at": now, "updated_at": now, "is_volunteer": False, "subscribed": True, "cs_sends_since_inbound": 0}
        for i in range(residents)
    ]  # fmt: skip
    with db.engine.begin() as conn:
        conn.execute(sa.insert(Resident), rows)
        ids = list(conn.execute(sa.select(Resident.id).where(Resident.openid.like("s-%"))).scalars())
    return proposal_id, ids


def bench_supports(db: Database, residents: int, taps: int, threads: int) -> tuple[float, int, int]:
    """(taps per second, supports counted, duplicates refused): every resident taps `taps` times at once."""
    proposal_id, ids = _setup(db, residents)
    work_list = [rid for rid in ids for _ in range(taps)]
    barrier = threading.Barrier(threads)
    counted, refused, errors = [0], [0], []
    lock = threading.Lock()

    def work(mine: list[int]) -> None:
        barrier.wait()
        for resident_id in mine:
            s = db.session()
            try:
                supports.support(s, s.get(Proposal, proposal_id), s.get(Resident, resident_id), now=clock.now())
                s.commit()
                with lock:
                    counted[0] += 1
            except Conflict as e:
                s.rollback()
                with lock:
                    refused[0] += e.code == "already_supported"
            except BaseException as e:  # reported below, after the run
                s.rollback()
                errors.append(e)
            finally:
                s.close()

    # Consecutive taps of one resident go to different threads, so they race each other.
    workers = [threading.Thread(target=work, args=(work_list[i::threads],)) for i in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} supports failed, first: {errors[0]!r}")
    with db.transaction() as s:
        rows = s.scalar(sa.select(sa.func.count()).select_from(ProposalSupport))
        stored = s.get(Proposal, proposal_id).support_count
    assert rows == stored == counted[0] == residents, (rows, stored, counted[0], residents)
    return len(work_list) / elapsed, counted[0], refused[0]


def bench_backend(name: str, url: str, args: argparse.Namespace) -> tuple[str, float, int, int]:
    """Create the schema, then measure on a fresh database."""
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            if db.is_postgres:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS btree_gist")
        models.Base.metadata.create_all(db.engine)
        rate, counted, refused = bench_supports(db, args.residents, args.taps, args.threads)
        return name, rate, counted, refused
    finally:
        db.dispose()


def main() -> None:
    """Run on each backend and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--taps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=50)
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
    print(f"# Support benchmark: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.residents:,} residents × {args.taps} simultaneous taps from {args.threads} threads; load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    print()
    print(f"| backend | taps/s ({args.threads}-way) | supports counted | duplicate taps refused |")
    print("|---|---|---|---|")
    for name, rate, counted, refused in results:
        print(f"| {name} | {rate:.0f} | {counted:,} | {refused:,} |")


if __name__ == "__main__":
    main()
