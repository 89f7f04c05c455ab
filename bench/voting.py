"""Benchmark of the residents' ballots: votes per second under 50-way contention, and the time to publish and
recount the results of 42,000 ballots (the Changqiao street's turnout), on PostgreSQL and SQLite.

Votes go through `services.participation.ballots.cast`, one transaction each, from 50 threads released
together, each voting for its own households (the unique key is hit by every insert). The 42,000 ballots are
bulk-loaded (one household each, two choices per paper), then `tally.publish` (count, eligible households,
rewrite of the papers) and `tally.recount` are timed.
Run: .venv/bin/python bench/voting.py [--votes 5000] [--threads 50] [--ballots 42000] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

import models
from infra import clock
from infra.db import Database
from infra.embedded import EmbeddedPostgres
from models import Ballot, BallotChoice, BallotVoter, Resident
from services.demo import seed_org
from services.participation import ballots, proposals, tally

BUILDINGS = [f"E-LZ-{n}" for n in range(1, 7)]


def _residents(db: Database, org_ids: dict[str, int], community_id: int, n: int, prefix: str) -> list[int]:
    """Bulk-create n bound residents, one per household (room), spread over 绿洲花园's six buildings."""
    now = clock.now()
    rows = [
        {"openid": f"{prefix}-{i}", "community_id": community_id, "building_id": org_ids[BUILDINGS[i % 6]],
         "room": f"{prefix}{i}", "created_at": now, "updated_at": now, "is_volunteer": False, "subscribed": True,
         "cs_sends_since_inbound": 0}
        for i in range(n)
    ]  # fmt: skip
    with db.engine.begin() as conn:
        conn.execute(sa.insert(Resident), rows)
        ids = conn.execute(sa.select(Resident.id).where(Resident.openid.like(f"{prefix}-%")).order_by(Resident.id))
        return list(ids.scalars())


def _ballot(db: Database, titles: list[str], max_choices: int) -> tuple[int, list[str], dict[str, int], int]:
    """An open household ballot on 绿洲花园 with feasible proposals; (ballot id, option ids, buildings, community)."""
    with db.transaction() as s:
        org = seed_org(s)
        staff = org.staff["community_staff"]
        proposer = Resident(openid=f"bench-proposer-{secrets.token_hex(4)}", community_id=org.community.id,
                            building_id=org.buildings["E-LZ-1"].id, room="proposer")  # fmt: skip
        s.add(proposer)
        s.flush()
        ids = []
        for t in titles:
            p = proposals.propose(s, proposer, title=t, description=t, scope="estate")
            proposals.screen(s, staff, p, "feasible")
            ids.append(p.public_id)
        now = clock.now()
        b = ballots.open_ballot(
            s, staff, title="bench", scope="estate", estate_id=org.estates["E-LZ"].id, proposal_ids=ids,
            opens_at=now - timedelta(hours=1), closes_at=now + timedelta(days=1), rule="household",
            max_choices=max_choices,
        )  # fmt: skip
        return b.id, ids, {k: org.buildings[k].id for k in BUILDINGS}, org.community.id


def bench_votes(db: Database, votes: int, threads: int) -> float:
    """Votes per second: `threads` workers cast `votes` ballots for distinct households, all at once."""
    ballot_id, options, buildings, community = _ballot(db, ["座椅", "充电棚", "坡道", "地垫"], max_choices=2)
    voters = _residents(db, buildings, community, votes, "v")
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(mine: list[int]) -> None:
        rng = random.Random(mine[0] if mine else 0)
        barrier.wait()
        for resident_id in mine:
            s = db.session()
            try:
                b = s.get(Ballot, ballot_id)
                ballots.cast(s, b, s.get(Resident, resident_id), rng.sample(options, 2), now=clock.now())
                s.commit()
            except BaseException as e:  # reported below, after the run
                s.rollback()
                errors.append(e)
            finally:
                s.close()

    workers = [threading.Thread(target=work, args=(voters[i::threads],)) for i in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} votes failed, first: {errors[0]!r}")
    with db.transaction() as s:
        counted = s.scalar(
            sa.select(sa.func.count()).select_from(BallotVoter).where(BallotVoter.ballot_id == ballot_id)
        )
    assert counted == votes, (counted, votes)
    return votes / elapsed


def bench_tally(db: Database, n: int) -> tuple[float, float, float]:
    """(load s, publish s, recount s) for n ballots of one household each, two choices per paper."""
    ballot_id, _ids, buildings, community = _ballot(db, ["健身角", "快递柜", "读书角", "绿化"], max_choices=2)
    started = time.perf_counter()
    residents = _residents(db, buildings, community, n, "t")
    with db.transaction() as s:
        option_ids = [o.id for o, _ in ballots.options(s, s.get(Ballot, ballot_id))]
        keys = list(s.execute(sa.select(Resident.id, Resident.building_id, Resident.room).where(
            Resident.id.in_(residents))))  # fmt: skip
    rng = random.Random(42)
    voters, choices = [], []
    for resident_id, building_id, room in keys:
        voters.append({"id": secrets.token_hex(16), "ballot_id": ballot_id, "resident_id": resident_id,
                       "voter_key": ballots.household_key(building_id, room)})  # fmt: skip
        paper = secrets.token_hex(16)
        choices += [{"ballot_id": ballot_id, "paper": paper, "option_id": o} for o in rng.sample(option_ids, 2)]
    with db.engine.begin() as conn:
        conn.execute(sa.insert(BallotVoter), voters)
        conn.execute(sa.insert(BallotChoice), choices)
        conn.execute(sa.update(Ballot).where(Ballot.id == ballot_id).values(closes_at=clock.now()))
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    with db.transaction() as s:
        out = tally.results(s, s.get(Ballot, ballot_id), now=clock.now())
    publish_s = time.perf_counter() - started
    assert out["voters"] == n, out
    assert sum(o["votes"] for o in out["options"]) == 2 * n, out
    started = time.perf_counter()
    with db.transaction() as s:
        again = tally.recount(s, s.get(Ballot, ballot_id))
    recount_s = time.perf_counter() - started
    assert again.matches
    assert again.papers == n
    return load_s, publish_s, recount_s


def bench_backend(name: str, url: str, args: argparse.Namespace) -> tuple[str, float, float, float, float]:
    """Create the schema, then run both measurements on a fresh database."""
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            if db.is_postgres:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS btree_gist")
        models.Base.metadata.create_all(db.engine)
        rate = bench_votes(db, args.votes, args.threads)
        print(f"{name}: {args.votes:,} votes from {args.threads} threads at {rate:.0f}/s", file=sys.stderr)
        load_s, publish_s, recount_s = bench_tally(db, args.ballots)
        return name, rate, load_s, publish_s, recount_s
    finally:
        db.dispose()


def main() -> None:
    """Run the measurements on each backend and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votes", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--ballots", type=int, default=42_000)
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
    print(f"# Ballot benchmark: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.votes:,} votes from {args.threads} threads, {args.ballots:,} ballots tallied; load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    print()
    head = f"| backend | votes/s ({args.threads}-way) | load {args.ballots:,} ballots (s) | publish results (s) |"
    print(head + " recount (s) |")
    print("|---|---|---|---|---|")
    for name, rate, load_s, publish_s, recount_s in results:
        print(f"| {name} | {rate:.0f} | {load_s:.1f} | {publish_s:.2f} | {recount_s:.2f} |")


if __name__ == "__main__":
    main()
