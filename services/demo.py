"""Demo data for `make run` and the tests: a Suzhou Industrial Park community with grids, estates, staff."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Building, Community, Department, DutyShift, Estate, Grid, PropertyCompany, QRScene, Staff
from services.volunteering.demo import seed_volunteering

# The resident `hongguan chat` plays by default: bound to 绿洲花园 1幢 (grid G1), so the first complaint a
# newcomer types is routed to that grid's worker instead of waiting in triage for a place.
DEMO_RESIDENT_OPENID = "o-demo-resident-0001"
DEMO_RESIDENT_BUILDING = "E-LZ-1"


def _box(lng0: float, lat0: float, lng1: float, lat1: float) -> dict:
    """A GeoJSON rectangle (lng, lat order, closed ring)."""
    ring = [[lng0, lat0], [lng1, lat0], [lng1, lat1], [lng0, lat1], [lng0, lat0]]
    return {"type": "Polygon", "coordinates": [ring]}


# code, name, kind — the default handling units of the community taxonomy.
DEPARTMENTS = [
    ("chengguan", "城管中队", "government"),
    ("police", "派出所", "government"),
    ("fire", "消防救援站", "government"),
    ("municipal", "市政管理所", "government"),
    ("traffic", "交警中队", "government"),
    ("environment", "生态环境分局", "government"),
    ("civil_affairs", "社区民政", "community"),
    ("health", "社区卫生服务中心", "government"),
    ("education", "教育文体办", "government"),
    ("service_center", "社区服务中心", "community"),
]


@dataclass
class DemoOrg:
    """Handles to the seeded rows, for tests and for printing."""

    community: Community
    grids: dict[str, Grid] = field(default_factory=dict)
    estates: dict[str, Estate] = field(default_factory=dict)
    buildings: dict[str, Building] = field(default_factory=dict)
    companies: dict[str, PropertyCompany] = field(default_factory=dict)
    departments: dict[str, Department] = field(default_factory=dict)
    staff: dict[str, Staff] = field(default_factory=dict)


def seed_org(session: Session) -> DemoOrg:
    """Create (once) one community, three grids, two estates with two property companies, and staff."""
    existing = session.scalar(select(Community).where(Community.code == "jinji-lake"))
    if existing is not None:
        return load_org(session, existing)
    community = Community(code="jinji-lake", name="金鸡湖社区", street="湖西街道")
    session.add(community)
    session.flush()
    org = DemoOrg(community=community)
    # Three side-by-side grids around 31.31 N, 120.70 E.
    for i, (code, name) in enumerate([("G1", "第一网格"), ("G2", "第二网格"), ("G3", "第三网格")]):
        grid = Grid(
            community_id=community.id,
            code=code,
            name=name,
            boundary=_box(120.700 + 0.005 * i, 31.300, 120.705 + 0.005 * i, 31.305),
        )
        session.add(grid)
        org.grids[code] = grid
    for code, name in [("PC-LH", "绿洲物业"), ("PC-XY", "星苑物业")]:
        org.companies[code] = PropertyCompany(code=code, name=name)
        session.add(org.companies[code])
    for code, name, kind in DEPARTMENTS:
        org.departments[code] = Department(code=code, name=name, kind=kind)
        session.add(org.departments[code])
    session.flush()
    for code, name, company in [("E-LZ", "绿洲花园", "PC-LH"), ("E-XY", "星苑小区", "PC-XY")]:
        org.estates[code] = Estate(
            community_id=community.id, code=code, name=name, property_company_id=org.companies[company].id
        )
        session.add(org.estates[code])
    session.flush()
    # 绿洲花园 1-6幢 split over G1/G2; 星苑小区 1-4幢 in G3.
    for n in range(1, 7):
        b = Building(estate_id=org.estates["E-LZ"].id, grid_id=org.grids["G1" if n <= 3 else "G2"].id, name=f"{n}幢")
        session.add(b)
        org.buildings[f"E-LZ-{n}"] = b
    for n in range(1, 5):
        b = Building(estate_id=org.estates["E-XY"].id, grid_id=org.grids["G3"].id, name=f"{n}幢")
        session.add(b)
        org.buildings[f"E-XY-{n}"] = b
    session.flush()
    people = [
        ("g1_worker", "王网格", "grid_worker", {"grid_id": org.grids["G1"].id}),
        ("g1_leader", "李网格长", "grid_leader", {"grid_id": org.grids["G1"].id}),
        ("g2_worker", "赵网格", "grid_worker", {"grid_id": org.grids["G2"].id}),
        ("g2_leader", "钱网格长", "grid_leader", {"grid_id": org.grids["G2"].id}),
        ("g3_worker", "孙网格", "grid_worker", {"grid_id": org.grids["G3"].id}),
        ("g3_leader", "周网格长", "grid_leader", {"grid_id": org.grids["G3"].id}),
        ("secretary", "吴书记", "community_secretary", {}),
        ("community_staff", "郑社工", "community_staff", {}),
        ("pc_lh", "绿洲物业客服", "property_staff", {"property_company_id": org.companies["PC-LH"].id}),
        ("pc_xy", "星苑物业客服", "property_staff", {"property_company_id": org.companies["PC-XY"].id}),
    ]
    for code, _, _ in DEPARTMENTS:
        people.append(
            (f"dept_{code}", f"{org.departments[code].name}值班员", "department_staff",
             {"department_id": org.departments[code].id})
        )  # fmt: skip
    for key, name, role, scope in people:
        member = Staff(
            name=name, role=role, community_id=community.id, openid=f"o-staff-{key.replace('_', '-')}", **scope
        )
        session.add(member)
        org.staff[key] = member
    session.flush()
    for building_key in ("E-LZ-1", "E-LZ-4", "E-XY-2"):
        b = org.buildings[building_key]
        session.add(
            QRScene(
                scene=f"b-{building_key.lower()}",
                community_id=community.id,
                grid_id=b.grid_id,
                building_id=b.id,
                label=f"{building_key} 楼道二维码",
            )
        )
    session.add(QRScene(scene="community", community_id=community.id, label="社区服务中心二维码"))
    session.flush()
    return org


def load_org(session: Session, community: Community) -> DemoOrg:
    """Rebuild the DemoOrg handles for an already seeded community."""
    org = DemoOrg(community=community)
    for g in session.scalars(select(Grid).where(Grid.community_id == community.id)):
        org.grids[g.code] = g
    for e in session.scalars(select(Estate).where(Estate.community_id == community.id)):
        org.estates[e.code] = e
        for i, b in enumerate(
            session.scalars(select(Building).where(Building.estate_id == e.id).order_by(Building.id))
        ):
            org.buildings[f"{e.code}-{i + 1}"] = b
    for c in session.scalars(select(PropertyCompany)):
        org.companies[c.code] = c
    for d in session.scalars(select(Department)):
        org.departments[d.code] = d
    for s in session.scalars(select(Staff).where(Staff.community_id == community.id)):
        if s.openid and s.openid.startswith("o-staff-"):
            org.staff[s.openid.removeprefix("o-staff-").replace("-", "_")] = s
    return org


def seed_all(session: Session) -> dict[str, int]:
    """Seed every area's demo data; each step is idempotent, so `make run` can call it on every start."""
    from services.appeals.calendar import seed_calendar
    from services.appeals.deadlines import seed_sla_policies
    from services.appeals.routing import seed_routing
    from services.booking.venues import seed_demo_venues
    from services.cobuilding.demo import seed_cobuilding
    from services.participation.demo import seed_participation
    from services.points.ledger import seed_task_categories

    org = seed_org(session)
    summary = {
        "grids": len(org.grids),
        "buildings": len(org.buildings),
        "departments": len(org.departments),
        "staff": len(org.staff),
        "routing_rules": seed_routing(session),
        "calendar_days": seed_calendar(session),
        "sla_policies": seed_sla_policies(session),
        "venues": len(seed_demo_venues(session, org.community.id)),
        "task_categories": len(seed_task_categories(session)),
        "duty_shifts": len(seed_duty_roster(session, org)),
    }
    summary["demo_resident"] = seed_demo_resident(session, org)
    summary.update(_seed_demo_activity(session, org))
    summary.update(seed_participation(session, org))  # an open ballot and a council mid-way through 四议两公开
    summary.update(seed_volunteering(session, org))
    summary.update(seed_cobuilding(session, org.community.id, org.staff["secretary"]))
    return summary


def seed_duty_roster(session: Session, org: DemoOrg, days: int = 14) -> list[DutyShift]:
    """The demo community's 值班表 from yesterday for `days` days: the grid leaders and the community worker
    take the nights in turn, the secretary and the community worker the weekend/holiday days (idempotent)."""
    from datetime import timedelta

    from infra import clock
    from services.appeals.duty import plan_rotation

    night = [org.staff[k].id for k in ("community_staff", "g1_leader", "g2_leader", "g3_leader")]
    day = [org.staff[k].id for k in ("secretary", "community_staff")]
    first = clock.local_now().date() - timedelta(days=1)
    return plan_rotation(session, org.community.id, first, days, night_staff=night, day_staff=day)


def seed_demo_resident(session: Session, org: DemoOrg) -> int:
    """The chat simulator's resident, bound to building E-LZ-1 unless already bound elsewhere; returns its id."""
    from services.organisation.residents import bind_to_building, get_or_create

    resident = get_or_create(session, DEMO_RESIDENT_OPENID)
    if resident.building_id is None:
        bind_to_building(session, resident, org.buildings[DEMO_RESIDENT_BUILDING].id)
        resident.room = resident.room or "101"
        resident.name = resident.name or "陈演示"
        resident.subscribed = True
        session.flush()
    return resident.id


def _seed_demo_activity(session: Session, org: DemoOrg) -> dict[str, int]:
    """A partner unit with rewards, an upcoming event and a notice, created once."""
    from datetime import timedelta

    from infra import clock
    from models.events import Event
    from models.notice import Notice
    from models.points import PartnerUnit
    from services.notices.announcements import publish
    from services.points.events import create_event
    from services.points.rewards import create_reward

    created = {"partners": 0, "events": 0, "notices": 0}
    if session.scalar(select(PartnerUnit).where(PartnerUnit.code == "P-TEA")) is None:
        partner = PartnerUnit(community_id=org.community.id, code="P-TEA", name="湖畔茶社", address="邻里中心一楼")
        session.add(partner)
        session.flush()
        create_reward(session, partner.id, name="茶饮兑换券", cost_points=20, stock=50, per_person_limit=2)
        create_reward(session, partner.id, name="社区文创帆布袋", cost_points=60, stock=10, per_person_limit=1)
        created["partners"] = 1
    now = clock.now()
    if session.scalar(select(Event).limit(1)) is None:
        start = (now + timedelta(days=3)).replace(hour=1, minute=0, second=0, microsecond=0)  # 09:00 Suzhou
        create_event(
            session, org.staff["community_staff"].id, title="楼道清洁志愿服务", starts_at=start,
            ends_at=start + timedelta(hours=2), capacity=20, community_id=org.community.id,
            volunteers_only=False, points_on_attendance=10, location="绿洲花园 1幢", description="清理楼道堆物",
        )  # fmt: skip
        created["events"] = 1
    if session.scalar(select(Notice).limit(1)) is None:
        publish(
            session, org.staff["community_staff"], title="冬季消防安全提示",
            body="请勿在楼道停放电动车或飞线充电；发现隐患请在公众号留言。", published_at=now,
        )  # fmt: skip
        created["notices"] = 1
    return created
