"""Demo data for residents' participation: an open ballot on three 绿洲花园 projects, a proposal gathering its
neighbours' supports under the community's threshold, and a council whose charging-point decision is half-way
through 四议两公开."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import clock
from models.council import Council
from services.organisation.residents import bind_to_building, get_or_create
from services.participation import ballots, councils, procedure, projects, proposals, supports

DEMO_PROPOSER_OPENID = "o-demo-proposer-0001"
COUNCIL_NAME = "绿洲花园红管议事会"
PROJECTS = [
    ("单元门口无障碍坡道", "3幢、5幢单元门口台阶高，轮椅和婴儿车进出困难，建议加装坡道和扶手。", 18000),
    ("电动车集中充电棚", "楼道里飞线充电隐患大，建议在北门空地建一处带充电桩的车棚。", 45000),
    ("儿童游乐区地垫更换", "游乐区地垫破损翘起，孩子容易绊倒，建议整体更换为安全地垫。", 12000),
]


def seed_participation(session: Session, org: Any) -> dict[str, int]:
    """Seed once: this year's budget, three feasible projects on an open household ballot, a support threshold with
    one proposal gathering supports, and a council."""
    if session.scalar(select(Council).where(Council.name == COUNCIL_NAME)) is not None:
        return {"ballots": 0, "councils": 0}
    staff, secretary = org.staff["community_staff"], org.staff["secretary"]
    now = clock.now()
    projects.set_budget(session, staff, year=clock.local_now().year, cap_yuan=250_000)
    proposer = get_or_create(session, DEMO_PROPOSER_OPENID)
    bind_to_building(session, proposer, org.buildings["E-LZ-2"].id)
    proposer.room, proposer.name, proposer.subscribed = "201", "林居民", True
    made = []
    for title, description, cost in PROJECTS:
        p = proposals.propose(
            session, proposer, title=title, description=description, scope="estate", rough_cost_yuan=cost
        )
        proposals.screen(session, staff, p, "feasible")
        made.append(p.public_id)
    ballots.open_ballot(
        session, staff, title="2026 年绿洲花园微实事投票", scope="estate", estate_id=org.estates["E-LZ"].id,
        proposal_ids=made, opens_at=now - timedelta(hours=1), closes_at=now + timedelta(days=14),
        rule="household", max_choices=2,
    )  # fmt: skip
    # From now on a new proposal needs 10 neighbours' supports within 30 days; one is gathering them.
    supports.set_threshold(session, staff, supports_needed=10, window_days=30)
    seats = proposals.propose(
        session, proposer, title="楼下增设休息座椅", description="2幢楼下没有座椅，老人散步走累了没处歇脚。",
        scope="estate", rough_cost_yuan=3000,
    )  # fmt: skip
    for n in range(3):
        neighbour = get_or_create(session, f"o-demo-neighbour-{n:04d}")
        bind_to_building(session, neighbour, org.buildings["E-LZ-3"].id)
        neighbour.room = f"{n + 1}02"
        supports.support(session, seats, neighbour, now=now)
    council = councils.create_council(session, secretary, name=COUNCIL_NAME, estate_id=org.estates["E-LZ"].id)
    for name, kind, unit in [
        ("吴书记", "party_member", "社区党委"),
        ("陈代表", "resident_rep", "绿洲花园 1幢"),
        ("绿洲物业经理", "property_company", "绿洲物业"),
        ("业委会主任", "owners_committee", "绿洲花园业委会"),
        ("郑社工", "staff", "金鸡湖社区"),
        ("供电所党支部", "co_building_unit", "湖西供电所"),
    ]:
        councils.add_member(session, secretary, council, name=name, kind=kind, organisation=unit)
    meeting = councils.schedule_meeting(
        session, secretary, council, title="十二月红管议事会", held_at=now - timedelta(days=1),
        agenda=["电动车充电难", "单元门口坡道"], location="绿洲花园党群服务站",
    )  # fmt: skip
    item = councils.add_item(
        session, secretary, council, title="北门建设电动车集中充电棚", source_type="proposal", source_id=made[1],
        description="居民提议，涉及公共空间改造和费用分摊，属重大事项。", meeting=meeting,
    )  # fmt: skip
    today = clock.local_now().date()
    procedure.deliberate(
        session, secretary, item, "party_proposal", held_on=today - timedelta(days=3), outcome="approved",
        note="党支部提议在北门空地建设充电棚",
    )  # fmt: skip
    procedure.deliberate(
        session, secretary, item, "committees_consult", held_on=today - timedelta(days=1), outcome="approved",
        note="两委商议同意，提交党员大会审议",
    )  # fmt: skip
    session.flush()
    return {"ballots": 1, "councils": 1}
