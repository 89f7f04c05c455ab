"""共建 console pages: server time per page (p50 / p95 ms) over the demo's co-building data on SQLite.

The demo community with `hongguan seed-demo`'s member units, 500 resources and 200 needs, and `--orders` orders
placed by the G1 grid leader (every fourth accepted); each page is fetched `--rounds` times through the Flask test
client, signed in as a real console session (the grid leader, the secretary, or a unit's 兼职委员), so the time
includes the session check, the same service calls as the staff API, and the template.
Run: .venv/bin/python bench/cobuilding_pages.py [--rounds 40] [--orders 200]
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def main() -> None:
    """Print the page timing table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="fetches of each page")
    parser.add_argument("--orders", type=int, default=200, help="orders placed before timing")
    args = parser.parse_args()

    import models
    from infra import clock
    from infra.db import make_engine
    from infra.embedded import EmbeddedRedis
    from infra.web import get_db
    from models.cobuilding import CobuildingNeed, CobuildingOrder, CobuildingResource
    from nlp import tokenize
    from services.appeals.calendar import seed_calendar
    from services.cobuilding import orders
    from services.cobuilding.demo import seed_cobuilding, seed_units
    from services.console.signin import issue_link
    from services.demo import seed_org
    from services.errors import DomainError
    from wsgi import create_app

    tokenize.warm()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cob-pages-"))
    redis = EmbeddedRedis(tmp / "redis", persist=False).start()
    db = tmp / "h.db"
    engine = make_engine(f"sqlite:///{db}")
    models.Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app({"ENV": "development", "INSTANCE_PATH": str(tmp / "instance"), "DATABASE_URL": f"sqlite:///{db}",
                      "REDIS_URL": redis.url, "CONSOLE_COOKIE_SECURE": False,
                      "CONSOLE_SIGNIN_PER_MINUTE": 1000})  # fmt: skip
    try:
        with get_db(app).transaction() as s:
            org = seed_org(s)
            seed_calendar(s)
            seed_cobuilding(s, org.community.id, org.staff["secretary"], resource_count=500, need_count=200)
        with get_db(app).transaction() as s:
            from sqlalchemy import select

            org = seed_org(s)
            leader = org.staff["g1_leader"]
            open_ids = list(s.scalars(select(CobuildingResource.id).order_by(CobuildingResource.id)))
            seeded = seed_units(s, org.community.id, org.staff["secretary"])
            login_of = {u.id: seeded.logins[code] for code, u in seeded.units.items()}
            placed = 0
            for rid in open_ids:
                if placed >= args.orders:
                    break
                try:
                    order = orders.place(s, leader, resource_id=rid).order
                except DomainError:  # expired, used up, or not serving G1's community: the next one
                    continue
                placed += 1
                if placed % 4 == 0:
                    orders.accept(s, login_of[order.unit_id], order)
            need_id = s.scalar(select(CobuildingNeed.id).where(CobuildingNeed.status == "open").limit(1))
            order_id = s.scalar(select(CobuildingOrder.id).order_by(CobuildingOrder.id).limit(1))
            unit_id = s.scalar(select(CobuildingOrder.unit_id).where(CobuildingOrder.id == order_id))
            unit_staff = login_of[unit_id].id
            who = {"grid leader": leader.id, "secretary": org.staff["secretary"].id, "unit": unit_staff}
            tokens = {name: issue_link(s, sid) for name, sid in who.items()}

        clients = {}
        for name, token in tokens.items():
            c = app.test_client()
            form = c.get(f"/console/login/link/{token}").get_data(as_text=True)
            done = c.post(f"/console/login/link/{token}", data={"csrf_token": CSRF.search(form).group(1)})
            assert done.status_code == 302, done.get_data(as_text=True)
            clients[name] = c
        month = clock.local_now().strftime("%Y-%m")
        pages = [
            ("grid leader", "需求清单", "/console/cobuilding/needs"),
            ("grid leader", "需求页（推荐资源）", f"/console/cobuilding/needs/{need_id}"),
            ("grid leader", "资源清单（可下单）", "/console/cobuilding/resources?orderable=1"),
            ("grid leader", "资源清单搜索", "/console/cobuilding/resources?q=讲座"),
            ("grid leader", "订单", "/console/cobuilding/orders"),
            ("grid leader", "订单页", f"/console/cobuilding/orders/{order_id}"),
            ("unit", "本单位订单", "/console/cobuilding/orders"),
            ("secretary", "成员单位", "/console/cobuilding/units"),
            ("secretary", "共建统计（本月 + 六个月）", f"/console/cobuilding/figures?month={month}"),
        ]
        print(f"python {platform.python_version()} · SQLite · {placed} orders · {args.rounds} fetches per page\n")
        print("| page | as | p50 ms | p95 ms |")
        print("|---|---|---:|---:|")
        for as_who, label, path in pages:
            times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                resp = clients[as_who].get(path)
                times.append((time.perf_counter() - start) * 1000)
                assert resp.status_code == 200, (path, resp.status_code)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(f"| {label} | {as_who} | {statistics.median(times):.1f} | {p95:.1f} |")
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
