"""Demo data for `hongguan seed-demo`: volunteers, two teams, a post, party members linked to households, and one
open call-up, so a newcomer sees every part after `make run` (idempotent)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra import clock
from models.resident import Resident
from models.volunteer import VolunteerSkill, VolunteerTeam
from services.party import activity, members
from services.volunteering import callups, teams

TEAM_NAME = "金鸡湖红管家志愿服务队"
VOLUNTEERS = (  # name, building, room, skills
    ("周志愿", "E-LZ-1", "201", ("急救", "电工")),
    ("吴志愿", "E-LZ-1", "202", ("摄影",)),
    ("郑志愿", "E-LZ-2", "301", ("心理疏导",)),
    ("冯志愿", "E-XY-1", "101", ("急救",)),
    ("陈志愿", "E-XY-2", "102", ("法律咨询",)),
    ("褚志愿", "E-LZ-2", "302", ("垃圾分类",)),
)
PARTY = (
    ("蒋先锋", "E-LZ-1", "501", "在职", "园区某科技公司党支部"),
    ("沈先锋", "E-XY-1", "502", "离退休", "湖西街道退休党支部"),
)


def seed_volunteering(session: Session, org: Any) -> dict[str, int]:
    """Create the demo volunteers, teams, party members and call-up once; returns what was created."""
    created = {"volunteers": 0, "teams": 0, "party_members": 0, "callups": 0}
    if session.scalar(select(VolunteerTeam.id).where(VolunteerTeam.name == TEAM_NAME)) is not None:
        return created
    staff = org.staff["community_staff"].id
    people: list[Resident] = []
    for i, (name, building, room, skills) in enumerate(VOLUNTEERS):
        b = org.buildings[building]
        r = Resident(name=name, openid=f"o-demo-volunteer-{i + 1}", subscribed=True, is_volunteer=True,
                     community_id=org.community.id, grid_id=b.grid_id, building_id=b.id, room=room)  # fmt: skip
        session.add(r)
        session.flush()
        session.add_all(VolunteerSkill(resident_id=r.id, skill=s) for s in skills)
        people.append(r)
    created["volunteers"] = len(people)
    team = teams.create_team(
        session, staff, community_id=org.community.id, name=TEAM_NAME, leader_resident_id=people[0].id
    )
    for r in people[1:4]:
        teams.add_member(session, staff, team.id, r.id)
    g1 = org.buildings["E-LZ-1"].grid_id
    grid_team = teams.create_team(session, staff, community_id=org.community.id, grid_id=g1, name="绿洲花园楼道志愿队",
                                  leader_resident_id=people[1].id)  # fmt: skip
    teams.add_member(session, staff, grid_team.id, people[5].id)
    created["teams"] = 2
    post = teams.create_post(session, staff, community_id=org.community.id, name="楼道长", holders=3, team_id=team.id,
                             duties="每周巡查楼道堆物和消防通道")  # fmt: skip
    today = clock.local_now().date()
    teams.claim_post(session, post.id, people[0].id, starts_on=today, ends_on=today + timedelta(days=180))

    demo_tag = activity.define_tag(session, staff, org.community.id, "党员示范户", "party_member")
    for i, (name, building, room, category, organisation) in enumerate(PARTY):
        b = org.buildings[building]
        r = Resident(name=name, openid=f"o-demo-party-{i + 1}", subscribed=True, community_id=org.community.id,
                     grid_id=b.grid_id, building_id=b.id, room=room)  # fmt: skip
        session.add(r)
        session.flush()
        m = members.register(session, r.id, category=category, organisation=organisation)
        members.verify(session, m.id, staff)
        for neighbour in ("601", "602", "603"):
            members.link_household(session, staff, m.id, b.id, neighbour)
        activity.assign_tag(session, staff, demo_tag.id, m.id)
    created["party_members"] = len(PARTY)

    start = (clock.now() + timedelta(days=4)).replace(hour=0, minute=30, second=0, microsecond=0)  # 08:30 Suzhou
    callups.create_callup(
        session, staff, community_id=org.community.id, title="周末垃圾分类督导倡议",
        description="在各小区投放点引导居民分类投放，每班两小时。",
        audience={"volunteers": True, "party_members": True},
        shifts=[callups.ShiftSpec("绿洲花园投放点", start, start + timedelta(hours=2), 4),
                callups.ShiftSpec("星苑小区投放点", start + timedelta(hours=2), start + timedelta(hours=4), 4)],
        signup_closes_at=start - timedelta(hours=12), points_on_attendance=10,
    )  # fmt: skip
    created["callups"] = 1
    session.flush()
    return created
